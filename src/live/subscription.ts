import type { EventSelector, RecordedEvent } from '../events/events.service.js';
import type { Positions, Section, SectionName, SentAhead } from './live-cursor.js';

/** A recorded event with its object serialized once, however many connections receive it. */
export interface LiveEvent extends RecordedEvent {
  json: string;
}

export function liveEvent(event: RecordedEvent): LiveEvent {
  return { ...event, json: JSON.stringify(event.body) };
}

/**
 * What a subscription needs of the connection it belongs to (LiveConnection is one): whether it is still
 * open, to send it events, and to wait for its reader. Declared here so that this file does not import
 * the connection, which holds its subscriptions.
 */
export interface SubscriptionConnection {
  readonly closed: boolean;
  deliver(event: LiveEvent, subscriptions: readonly Subscription[], live: boolean): void;
  drained(): Promise<boolean>;
}

/** Events the feed may hand a subscription while it replays; past this it replays once more instead. */
const REPLAY_BUFFER_MAX = 5000;

/**
 * One subscription of a connection. It sends every selected event after its origin, per course in
 * sequence order, and its position is the last number it has passed in each course: so the events it has
 * sent on this connection are exactly the selected ones in (origin, position], which lets the connection
 * send an event wanted by two of its subscriptions once.
 *
 * It replays from the record first; what the feed hands it meanwhile waits in `buffer` and is sent after
 * the replay (those at or before its position skipped), so the seam has no gap and no repeat.
 */
export class Subscription {
  readonly section: SectionName;
  readonly position: Positions;
  readonly ahead: SentAhead;
  active = true;
  private buffer: LiveEvent[] | null = [];
  /** The buffer overflowed (or the feed lost events): the replay must run again from the position. */
  private missed = false;

  constructor(
    readonly selector: EventSelector,
    readonly connection: SubscriptionConnection,
    start: Section,
  ) {
    this.section = sectionOf(selector);
    this.origin = new Map(start.positions);
    this.position = new Map(start.positions);
    this.ahead = new Map([...start.ahead].map(([courseId, seqs]) => [courseId, new Set(seqs)]));
  }

  private readonly origin: Positions;

  /** Where a resuming connection takes this subscription up: its positions and what was sent past them. */
  get state(): Section {
    return { positions: this.position, ahead: this.ahead };
  }

  get live(): boolean {
    return this.buffer === null;
  }

  matches(event: RecordedEvent): boolean {
    switch (this.selector.kind) {
      case 'student':
        return event.body.student_id === this.selector.studentId;
      case 'request':
        return event.body.idempotency_key === this.selector.idempotencyKey;
      case 'course':
        return event.courseId === this.selector.courseId;
    }
  }

  isPast(event: RecordedEvent): boolean {
    return event.seq <= (this.position.get(event.courseId) ?? 0);
  }

  hasSent(event: RecordedEvent): boolean {
    return this.matches(event) && event.seq > (this.origin.get(event.courseId) ?? 0) && this.isPast(event);
  }

  /** Another subscription of the connection sent this event before this one got to it. */
  wasSentAhead(event: RecordedEvent): boolean {
    return this.ahead.get(event.courseId)?.has(event.seq) ?? false;
  }

  markSentAhead(event: RecordedEvent): void {
    const seqs = this.ahead.get(event.courseId);
    if (seqs === undefined) this.ahead.set(event.courseId, new Set([event.seq]));
    else seqs.add(event.seq);
  }

  /** Moves past the event (sent by this subscription or by another one). */
  pass(event: RecordedEvent): void {
    this.position.set(event.courseId, event.seq);
    const seqs = this.ahead.get(event.courseId);
    if (seqs?.delete(event.seq) && seqs.size === 0) this.ahead.delete(event.courseId);
  }

  /** The feed hands over an event while this subscription replays. */
  hold(event: LiveEvent): void {
    if (this.buffer === null || this.missed) return;
    if (this.buffer.length >= REPLAY_BUFFER_MAX) {
      this.replayAgain();
      return;
    }
    this.buffer.push(event);
  }

  startReplay(): void {
    this.buffer = [];
    this.missed = false;
  }

  /** Something may have passed unseen (the feed was away, or the buffer overflowed). */
  replayAgain(): void {
    this.missed = true;
    if (this.buffer !== null) this.buffer = [];
  }

  /** At the end of a replay: the held events, or undefined when the replay has to run again. */
  goLive(): LiveEvent[] | undefined {
    if (this.missed) {
      this.startReplay();
      return undefined;
    }
    const held = this.buffer ?? [];
    this.buffer = null;
    return held;
  }
}

export function sectionOf(selector: EventSelector): SectionName {
  switch (selector.kind) {
    case 'student':
      return `s:${selector.studentId}`;
    case 'request':
      return `k:${selector.idempotencyKey}`;
    case 'course':
      return `c:${selector.courseId}`;
  }
}

/**
 * Replayed events in an order close to commit order across courses, keeping each course's own order:
 * each event's key is the latest timestamp of its course so far (a transaction that waited for the course
 * lock can carry an earlier timestamp than the one before it), then a stable sort by that key.
 */
export function inCommitOrder<T extends RecordedEvent>(events: readonly T[]): T[] {
  const latest = new Map<number, number>();
  const keyed = events.map((event) => {
    const key = Math.max(latest.get(event.courseId) ?? -Infinity, event.atMs);
    latest.set(event.courseId, key);
    return { event, key };
  });
  return keyed.sort((a, b) => a.key - b.key).map(({ event }) => event);
}
