import { createHash, createHmac } from 'node:crypto';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import type { DrawnEntry } from './course-draw.entity.js';
import type { CrossFieldRule } from '../http/cross-field-rules.js';

// The opening draw's pure rules (contract v3, Fair opening): when its period runs, whether its settings may
// change, and the draw order anyone can recompute from the revealed seed.

/** What decides a course's draw: its opening and the two settings. */
export interface DrawSettings {
  opensAt: Date | null;
  drawWindowS: number;
  prequeueS: number;
}

/** The draw period: requests accepted in [startsAt, endsAt) are its entries. */
export interface DrawPeriod {
  startsAt: Date;
  endsAt: Date;
}

/** The course's draw period, or null when it has no draw. */
export function drawPeriodOf(settings: DrawSettings): DrawPeriod | null {
  if (!settings.drawWindowS || !settings.opensAt) return null;
  const opens = settings.opensAt.getTime();
  return {
    startsAt: new Date(opens - (settings.prequeueS || 0) * 1000),
    endsAt: new Date(opens + settings.drawWindowS * 1000),
  };
}

/** The rules assertDrawSettings enforces, as the OpenAPI document states them (x-cross-field-rules). */
export const DRAW_NEEDS_OPENS_AT: CrossFieldRule = {
  fields: ['draw_window_s', 'opens_at'],
  rule: 'draw_window_s needs opens_at: the draw period runs from opens_at - prequeue_s to opens_at + draw_window_s',
};
export const PREQUEUE_NEEDS_DRAW: CrossFieldRule = {
  fields: ['prequeue_s', 'draw_window_s'],
  rule: 'prequeue_s needs draw_window_s > 0: requests accepted before opens_at are draw entries',
};

/** A draw needs opens_at, and a prequeue needs a draw (also a CHECK constraint: this names the fields). */
export function assertDrawSettings(settings: DrawSettings): void {
  if (settings.drawWindowS > 0 && !settings.opensAt) {
    throw new DomainError(DomainErrorCode.DrawSettingsInvalid, DRAW_NEEDS_OPENS_AT.rule);
  }
  if (settings.prequeueS > 0 && settings.drawWindowS === 0) {
    throw new DomainError(DomainErrorCode.DrawSettingsInvalid, PREQUEUE_NEEDS_DRAW.rule);
  }
}

/**
 * Whether a course edit changes its draw: 'unchanged', or 'reseed' (a new seed goes with the new settings).
 * Refused (409) once the current draw's period begins within `leadMs`, and when the new period would
 * begin within `leadMs` from now: every API process must learn of a draw (its cached course, COURSE_CACHE_TTL_MS)
 * before the first entry arrives, or it would take that entry as a plain request.
 */
export function drawChange(
  before: DrawSettings,
  after: DrawSettings,
  now: Date,
  leadMs: number,
): 'unchanged' | 'reseed' {
  const same =
    before.drawWindowS === after.drawWindowS &&
    before.prequeueS === after.prequeueS &&
    (before.drawWindowS === 0 || before.opensAt?.getTime() === after.opensAt?.getTime());
  if (same) return 'unchanged';
  const current = drawPeriodOf(before);
  if (current && now.getTime() >= current.startsAt.getTime() - leadMs) {
    throw new DomainError(
      DomainErrorCode.DrawPeriodBegun,
      `the draw period begins at ${current.startsAt.toISOString()}; draw_window_s, prequeue_s and opens_at ` +
        `can no longer change (they are settled ${Math.ceil(leadMs / 1000)} s before it)`,
    );
  }
  const next = drawPeriodOf(after);
  if (next && next.startsAt.getTime() < now.getTime() + leadMs) {
    throw new DomainError(
      DomainErrorCode.DrawPeriodBegun,
      `the draw period would begin at ${next.startsAt.toISOString()}, less than ${Math.ceil(leadMs / 1000)} s ` +
        'from now; set opens_at - prequeue_s later',
    );
  }
  return 'reseed';
}

/** Hex SHA-256 of the seed's UTF-8 text: published from the moment the draw is configured. */
export const seedDigest = (seed: string): string => createHash('sha256').update(seed, 'utf8').digest('hex');

/** An entry's lottery number: lowercase hex HMAC-SHA256(key = seed, message = "<course_id>:<student_id>"). */
export const drawTicket = (seed: string, courseId: number, studentId: string): string =>
  createHmac('sha256', seed).update(`${courseId}:${studentId}`, 'utf8').digest('hex');

/**
 * The draw order: priority descending, then the ticket ascending, then acceptance order: the acceptance time
 * (requested_at, public, so anyone can recompute it), and for two entries accepted in the same millisecond the
 * order they joined the entries in. Only one student's keys can get that far (their ticket is the same), so a
 * student's second key falls right behind the first.
 */
export function drawOrder(seed: string, courseId: number, entries: readonly DrawnEntry[]): DrawnEntry[] {
  return entries
    .map((entry, joined) => ({
      entry,
      joined,
      acceptedAt: Date.parse(entry.requestedAt),
      ticket: drawTicket(seed, courseId, entry.studentId),
    }))
    .sort(
      (a, b) =>
        b.entry.priority - a.entry.priority ||
        (a.ticket < b.ticket ? -1 : a.ticket > b.ticket ? 1 : 0) ||
        a.acceptedAt - b.acceptedAt ||
        a.joined - b.joined,
    )
    .map(({ entry }) => entry);
}
