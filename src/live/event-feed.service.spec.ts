import type { AppConfig } from '../config/app-config.js';
import type { EventsService, RecordedEvent } from '../events/events.service.js';
import { EventFeed } from './event-feed.service.js';
import type { LiveConnection } from './live-connection.js';
import { type LiveEvent, Subscription } from './subscription.js';

function event(courseId: number, seq: number, studentId: string): RecordedEvent {
  return {
    courseId,
    seq,
    atMs: 0,
    body: {
      id: `${courseId}-${seq}`,
      type: 'enrolled',
      course_id: courseId,
      student_id: studentId,
      idempotency_key: `k-${seq}`,
      status: 'enrolled',
      waitlist_position: null,
      reason: null,
      capacity: null,
      txid: null,
      at: new Date(0).toISOString(),
    },
  };
}

/** The record's read side, answering each read when the test says so. Units only: the feed's own logic. */
function controlledRecord() {
  const reads: Array<{ filtered: boolean; answer: (events: RecordedEvent[]) => void }> = [];
  const events = {
    inCoursesAfter: (_after: ReadonlyMap<number, number>, _limit: number, only?: unknown) =>
      new Promise<RecordedEvent[]>((resolve) =>
        reads.push({ filtered: only !== undefined, answer: resolve }),
      ),
    selectedAfter: async () => [],
  } as unknown as EventsService;
  return { events, reads };
}

/** A connection that records what its subscriptions are handed live. */
function recordingConnection(delivered: Array<[string, number]>): LiveConnection {
  return {
    closed: false,
    subscriptions: new Map(),
    deliver: (e: LiveEvent, subs: Subscription[]) =>
      subs.forEach((sub) => delivered.push([sub.section, e.seq])),
  } as unknown as LiveConnection;
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('the live feed', () => {
  it('reads again, whole, what a filtered read left out when someone subscribed while it ran', async () => {
    const { events, reads } = controlledRecord();
    const feed = new EventFeed({} as AppConfig, events);
    const internals = feed as unknown as { listening: boolean; notified(payload: string): void };
    internals.listening = true;
    const delivered: Array<[string, number]> = [];
    const connection = recordingConnection(delivered);
    const start = { positions: new Map([[7, 0]]), ahead: new Map() };
    const student = new Subscription({ kind: 'student', studentId: 's-1' }, connection, start);
    feed.follow(student);

    internals.notified('7:1:3');
    await flush();
    expect(reads.map((read) => read.filtered)).toEqual([true]);
    // A course subscription arrives while the filtered read is out; its replay may already be behind it.
    const course = new Subscription({ kind: 'course', courseId: 7 }, connection, start);
    feed.follow(course);
    reads[0].answer([event(7, 3, 's-1')]);
    await flush();
    expect(delivered).toEqual([]);
    expect(reads.map((read) => read.filtered)).toEqual([true, false]);
    reads[1].answer([event(7, 1, 's-2'), event(7, 2, 's-3'), event(7, 3, 's-1')]);
    await flush();
    expect(delivered).toEqual([
      ['c:7', 1],
      ['c:7', 2],
      ['c:7', 3],
      ['s:s-1', 3],
    ]);
  });

  it('skips, for students only, what nobody follows, and reads a course whole once someone follows it', async () => {
    const { events, reads } = controlledRecord();
    const feed = new EventFeed({} as AppConfig, events);
    const internals = feed as unknown as { listening: boolean; notified(payload: string): void };
    internals.listening = true;
    const delivered: Array<[string, number]> = [];
    const student = new Subscription({ kind: 'student', studentId: 's-1' }, recordingConnection(delivered), {
      positions: new Map(),
      ahead: new Map(),
    });
    feed.follow(student);
    internals.notified('7:1:3');
    await flush();
    reads[0].answer([event(7, 2, 's-1')]);
    await flush();
    expect(delivered).toEqual([['s:s-1', 2]]);
    // The next notification reads after 3 (what was announced), not after 2: 3 was nobody's here.
    internals.notified('7:4:4');
    await flush();
    expect(reads).toHaveLength(2);
    expect(reads[1].filtered).toBe(true);
  });
});
