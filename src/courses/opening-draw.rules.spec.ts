import { createHash, createHmac } from 'node:crypto';
import { DomainError } from '../errors/domain-error.js';
import {
  assertDrawSettings,
  drawChange,
  drawOrder,
  drawPeriodOf,
  drawTicket,
  seedDigest,
} from './opening-draw.rules.js';

const entry = (key: string, studentId: string, priority = 0, requestedAt = '2026-12-01T09:00:00.000Z') => ({
  idempotencyKey: key,
  studentId,
  priority,
  requestedAt,
});

describe('the opening draw rules', () => {
  const opensAt = new Date('2026-12-01T09:00:00.000Z');

  it('runs the period from opens_at - prequeue_s to opens_at + draw_window_s; none without a window', () => {
    expect(drawPeriodOf({ opensAt, drawWindowS: 300, prequeueS: 600 })).toEqual({
      startsAt: new Date('2026-12-01T08:50:00.000Z'),
      endsAt: new Date('2026-12-01T09:05:00.000Z'),
    });
    expect(drawPeriodOf({ opensAt, drawWindowS: 0, prequeueS: 0 })).toBeNull();
    expect(drawPeriodOf({ opensAt: null, drawWindowS: 300, prequeueS: 0 })).toBeNull();
  });

  it('names the field a draw needs: opens_at for a window, a window for a prequeue', () => {
    expect(() => assertDrawSettings({ opensAt: null, drawWindowS: 60, prequeueS: 0 })).toThrow(
      /draw_window_s needs opens_at/,
    );
    expect(() => assertDrawSettings({ opensAt, drawWindowS: 0, prequeueS: 60 })).toThrow(
      /prequeue_s needs draw_window_s > 0/,
    );
    expect(() => assertDrawSettings({ opensAt, drawWindowS: 60, prequeueS: 60 })).not.toThrow();
    expect(() => assertDrawSettings({ opensAt: null, drawWindowS: 0, prequeueS: 0 })).not.toThrow();
  });

  it('reseeds on a change of window, prequeue or opening, and refuses one once the period is near or begun', () => {
    const before = { opensAt, drawWindowS: 300, prequeueS: 600 };
    const early = new Date('2026-12-01T08:00:00.000Z');
    expect(drawChange(before, { ...before }, early, 5000)).toBe('unchanged');
    expect(drawChange(before, { ...before, prequeueS: 60 }, early, 5000)).toBe('reseed');
    expect(drawChange(before, { ...before, opensAt: new Date('2026-12-02T09:00:00Z') }, early, 5000)).toBe(
      'reseed',
    );
    // No draw before or after: the opening may move freely.
    const none = { opensAt, drawWindowS: 0, prequeueS: 0 };
    expect(drawChange(none, { ...none, opensAt: null }, new Date('2026-12-01T10:00:00Z'), 5000)).toBe(
      'unchanged',
    );
    const begun = new Date('2026-12-01T08:50:00.000Z');
    expect(() => drawChange(before, { ...before, drawWindowS: 60 }, begun, 5000)).toThrow(DomainError);
    expect(() => drawChange(before, { ...before, drawWindowS: 60 }, begun, 5000)).toThrow(
      /draw period begins at 2026-12-01T08:50:00.000Z/,
    );
    // Within the lead (the API processes' course cache) counts as begun.
    expect(() =>
      drawChange(before, { ...before, drawWindowS: 60 }, new Date('2026-12-01T08:49:57.000Z'), 5000),
    ).toThrow(DomainError);
    // A new draw must begin later than the lead from now.
    expect(() =>
      drawChange(none, { opensAt, drawWindowS: 60, prequeueS: 0 }, new Date('2026-12-01T08:59:58Z'), 5000),
    ).toThrow(/would begin at 2026-12-01T09:00:00.000Z/);
    // Unchanged settings are no change, even once the period has begun (a PATCH of the title).
    expect(drawChange(before, { ...before }, begun, 5000)).toBe('unchanged');
  });

  it('publishes the SHA-256 of the seed text and draws tickets as the contract spells them', () => {
    const seed = 'a'.repeat(64);
    expect(seedDigest(seed)).toBe(createHash('sha256').update(seed).digest('hex'));
    expect(drawTicket(seed, 7, 's-1')).toBe(createHmac('sha256', seed).update('7:s-1').digest('hex'));
    expect(drawTicket(seed, 7, 's-1')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('orders by priority descending, then ticket ascending, then acceptance order', () => {
    const seed = 'f00d'.repeat(16);
    const entries = [
      entry('k1', 's-1'),
      entry('k2', 's-2'),
      entry('k3', 's-3', 5),
      entry('k4', 's-1'), // s-1's second key: right behind the first
      entry('k5', 's-4'),
    ];
    const ordered = drawOrder(seed, 9, entries).map((one) => one.idempotencyKey);
    expect(ordered[0]).toBe('k3');
    const byTicket = ['s-1', 's-2', 's-4'].sort((a, b) =>
      drawTicket(seed, 9, a).localeCompare(drawTicket(seed, 9, b)),
    );
    const expected = byTicket.flatMap((student) =>
      student === 's-1' ? ['k1', 'k4'] : [student === 's-2' ? 'k2' : 'k5'],
    );
    expect(ordered.slice(1)).toEqual(expected);
    // The same entries give the same order, whatever order they are read in (bar a student's keys).
    expect(drawOrder(seed, 9, [...entries].reverse()).map((one) => one.studentId)).toEqual(
      drawOrder(seed, 9, entries).map((one) => one.studentId),
    );
  });

  it('gives a different order with another seed or another course (a bot cannot pick its place)', () => {
    const entries = Array.from({ length: 50 }, (_, index) => entry(`k${index}`, `s-${index}`));
    const first = drawOrder('1'.repeat(64), 3, entries).map((one) => one.studentId);
    expect(drawOrder('2'.repeat(64), 3, entries).map((one) => one.studentId)).not.toEqual(first);
    expect(drawOrder('1'.repeat(64), 4, entries).map((one) => one.studentId)).not.toEqual(first);
  });

  it("puts a student's keys in the order they were accepted, then in the order they joined", () => {
    const seed = 'beef'.repeat(16);
    const later = entry('late', 's-1', 0, '2026-12-01T09:00:00.005Z');
    const earlier = entry('early', 's-1', 0, '2026-12-01T09:00:00.001Z');
    const sameMs = entry('same', 's-1', 0, '2026-12-01T09:00:00.005Z');
    expect(drawOrder(seed, 1, [later, earlier, sameMs]).map((one) => one.idempotencyKey)).toEqual([
      'early',
      'late',
      'same',
    ]);
  });
});
