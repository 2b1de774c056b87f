import type { WebSocket } from 'ws';
import type { EventSelector, RecordedEvent } from '../events/events.service.js';
import { LiveConnection } from './live-connection.js';
import { decodeCursor, type Section } from './live-cursor.js';
import type { LiveMetrics } from './live-metrics.js';
import { inCommitOrder, type LiveEvent, liveEvent, Subscription } from './subscription.js';

function event(courseId: number, seq: number, studentId: string, atMs = seq): LiveEvent {
  const recorded: RecordedEvent = {
    courseId,
    seq,
    atMs,
    body: {
      id: `${courseId}-${seq}`,
      type: 'enrolled',
      course_id: courseId,
      student_id: studentId,
      idempotency_key: `k-${courseId}-${seq}`,
      status: 'enrolled',
      waitlist_position: null,
      reason: null,
      capacity: null,
      txid: null,
      at: new Date(atMs).toISOString(),
    },
  };
  return liveEvent(recorded);
}

/** A subscription's start: its positions, nothing sent ahead. */
const at = (positions: Map<number, number>) => ({ positions, ahead: new Map<number, Set<number>>() });

/** A socket that records what it is sent: units only, the real one is tested in test/live-*.int-spec.ts. */
function fakeConnection() {
  const sent: Array<{ type: string; event: { cursor: string; course_id: number; student_id: string } }> = [];
  const socket = {
    bufferedAmount: 0,
    send: (text: string) => sent.push(JSON.parse(text)),
    close: () => undefined,
    terminate: () => undefined,
  } as unknown as WebSocket;
  const metrics = {
    delivered: () => undefined,
    disconnected: () => undefined,
    subscribed: () => undefined,
  } as unknown as LiveMetrics;
  const connection = new LiveConnection(
    socket,
    { operator: false, client: true },
    { sendBufferBytes: 1 << 20, maxSubscriptions: 20, slowConsumerMs: 1000 },
    metrics,
  );
  const subscribe = (selector: EventSelector, start: Section): Subscription => {
    const subscription = connection.subscribe(selector, start);
    if (!(subscription instanceof Subscription)) throw new Error(`not subscribed: ${subscription}`);
    return subscription;
  };
  return { connection, socket, sent, subscribe };
}

describe('a subscription on a connection', () => {
  it('sends an event two of its subscriptions select once, and moves both past it', () => {
    const { connection, sent, subscribe } = fakeConnection();
    const student = subscribe({ kind: 'student', studentId: 's-1' }, at(new Map()));
    const course = subscribe({ kind: 'course', courseId: 7 }, at(new Map([[7, 0]])));
    connection.deliver(event(7, 1, 's-1'), [student, course], true);
    connection.deliver(event(7, 2, 's-2'), [course], true);
    expect(sent.map((m) => m.event.student_id)).toEqual(['s-1', 's-2']);
    const cursor = decodeCursor(sent[1].event.cursor)!;
    expect(cursor.get('s:s-1')).toEqual(at(new Map([[7, 1]])));
    expect(cursor.get('c:7')).toEqual(at(new Map([[7, 2]])));
  });

  it('skips, while replaying, what another subscription of the connection has sent live', () => {
    const { connection, sent, subscribe } = fakeConnection();
    const live = subscribe({ kind: 'course', courseId: 7 }, at(new Map([[7, 4]])));
    const replaying = subscribe({ kind: 'student', studentId: 's-1' }, at(new Map()));
    live.goLive();
    connection.deliver(event(7, 5, 's-1'), [live], true);
    // The replay finds s-1's events 3 (before the course subscription began) and 5 (which it sent).
    connection.deliver(event(7, 3, 's-1'), [replaying], false);
    connection.deliver(event(7, 5, 's-1'), [replaying], false);
    expect(sent.map((m) => m.event.cursor && m.event.student_id + '@' + m.event.course_id)).toEqual([
      's-1@7',
      's-1@7',
    ]);
    expect(replaying.position.get(7)).toBe(5);
  });

  it('at the seam sends only the held events past the replay, and replays again after an overflow', () => {
    const { connection, sent, subscribe } = fakeConnection();
    const sub = subscribe({ kind: 'course', courseId: 7 }, at(new Map([[7, 0]])));
    sub.hold(event(7, 2, 's'));
    sub.hold(event(7, 3, 's'));
    for (const replayed of [event(7, 1, 's'), event(7, 2, 's')]) connection.deliver(replayed, [sub], false);
    for (const held of sub.goLive()!) connection.deliver(held, [sub], true);
    expect(
      sent.map((m) => JSON.stringify(decodeCursor(m.event.cursor)!.get('c:7')!.positions.get(7))),
    ).toEqual(['1', '2', '3']);
    expect(sub.live).toBe(true);

    const overflowing = new Subscription({ kind: 'course', courseId: 8 }, connection, at(new Map()));
    for (let seq = 1; seq <= 5001; seq += 1) overflowing.hold(event(8, seq, 's'));
    expect(overflowing.goLive()).toBeUndefined();
    expect(overflowing.live).toBe(false);
  });

  it('notes in the cursor what one subscription sent ahead of another, so a resume does not send it again', () => {
    const first = fakeConnection();
    const student = first.subscribe({ kind: 'student', studentId: 's-1' }, at(new Map([[7, 0]])));
    const course = first.subscribe({ kind: 'course', courseId: 7 }, at(new Map([[7, 0]])));
    student.goLive();
    // The course subscription is still replaying (at 1) when the student's event 3 is sent live.
    first.connection.deliver(event(7, 1, 's-2'), [course], false);
    first.connection.deliver(event(7, 3, 's-1'), [student], true);
    const cursor = first.sent.at(-1)!.event.cursor;
    expect(decodeCursor(cursor)!.get('c:7')).toEqual({
      positions: new Map([[7, 1]]),
      ahead: new Map([[7, new Set([3])]]),
    });

    const second = fakeConnection();
    const sections = decodeCursor(cursor)!;
    const resumed = second.subscribe({ kind: 'course', courseId: 7 }, sections.get('c:7')!);
    for (const seq of [2, 3, 4])
      second.connection.deliver(event(7, seq, seq === 3 ? 's-1' : 's-2'), [resumed], false);
    expect(second.sent.map((m) => m.event.student_id)).toEqual(['s-2', 's-2']);
    expect(decodeCursor(second.sent.at(-1)!.event.cursor)!.get('c:7')).toEqual(at(new Map([[7, 4]])));
  });

  it('orders a replay by time across courses and by sequence within one', () => {
    const replay = [event(1, 1, 's', 100), event(1, 2, 's', 90), event(2, 1, 's', 95), event(2, 2, 's', 120)];
    expect(inCommitOrder(replay).map((e) => `${e.courseId}:${e.seq}`)).toEqual(['2:1', '1:1', '1:2', '2:2']);
  });

  it('holds one subscription per selector, up to its most, and none once closed', () => {
    const { connection, subscribe } = fakeConnection();
    const student = subscribe({ kind: 'student', studentId: 's-1' }, at(new Map()));
    expect(connection.subscribe({ kind: 'student', studentId: 's-1' }, at(new Map()))).toBe('duplicate');
    for (let id = 1; id < 20; id += 1) subscribe({ kind: 'course', courseId: id }, at(new Map()));
    expect(connection.subscribe({ kind: 'course', courseId: 99 }, at(new Map()))).toBe('full');
    expect(connection.unsubscribe({ kind: 'student', studentId: 's-1' })).toBe(student);
    expect(connection.unsubscribe({ kind: 'student', studentId: 's-1' })).toBeUndefined();
    expect(connection.close()).toHaveLength(19);
    expect(connection.closed).toBe(true);
    expect(connection.close()).toEqual([]);
    expect(connection.subscribe({ kind: 'student', studentId: 's-2' }, at(new Map()))).toBe('closed');
  });

  it('cuts a connection off, once, when its send buffer is over the limit', () => {
    const { connection, socket: fake } = fakeConnection();
    const closes: Array<[number, string]> = [];
    const socket = fake as unknown as { bufferedAmount: number; close: unknown };
    socket.close = (code: number, reason: string) => closes.push([code, reason]);
    socket.bufferedAmount = (1 << 20) + 1;
    expect(connection.send('{}')).toBe(false);
    expect(connection.send('{}')).toBe(false);
    expect(closes).toEqual([[1013, expect.stringContaining('send buffer full')]]);
  });
});
