import { setTimeout as sleep } from 'node:timers/promises';
import { type ChildService, startChildService } from './support/child-service.js';
import { writeHistory } from './support/db-client.js';
import { connectLive, type LiveClient, type LiveEventFrame, subscribe } from './support/live-client.js';
import {
  asAdmin,
  asClient,
  courseEvents,
  enrollAll,
  eventually,
  http,
  metricValue,
  newCourse,
  newRequest,
  useWorld,
} from './support/test-app.js';

const SEND_BUFFER_BYTES = 64 * 1024;

/** The fields that identify an event in a course's record (the cursor differs by reader). */
const identity = (event: LiveEventFrame) =>
  `${event.type}|${event.idempotency_key}|${event.status}|${event.waitlist_position}|${event.capacity}`;

async function metricsOf(service: ChildService): Promise<string> {
  return (await fetch(`${service.baseUrl}/metrics`, { headers: asClient })).text();
}

describe('live events across processes: two API processes and a worker', () => {
  let api1: ChildService;
  let api2: ChildService;
  let worker: ChildService;
  const clients: LiveClient[] = [];
  const live = async (service: ChildService, headers?: Record<string, string>) => {
    const client = await connectLive(service.baseUrl, { headers });
    clients.push(client);
    return client;
  };

  // Before useWorld(): the processes stop before the world goes.
  afterAll(() => {
    for (const service of [api1, api2, worker]) service?.process.kill('SIGKILL');
  });
  const ctx = useWorld({ app: false });
  beforeAll(async () => {
    const apiEnv = {
      ...ctx.world.env,
      ROLE: 'api',
      WS_SEND_BUFFER_BYTES: String(SEND_BUFFER_BYTES),
      WS_SLOW_CONSUMER_MS: '2000',
    };
    [api1, api2, worker] = await Promise.all([
      startChildService(apiEnv),
      startChildService(apiEnv),
      startChildService({ ...ctx.world.env, ROLE: 'worker' }),
    ]);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  it("delivers, within a second, the worker's decisions and another API process's drops and capacity changes", async () => {
    const courseId = await newCourse(api1.baseUrl, 2);
    const operator = await live(api2, asAdmin);
    await subscribe(operator, { course_id: courseId });
    const student = await live(api2);
    await subscribe(student, { student_id: 'fan-watched' });

    const [a, b, watched, d] = [
      newRequest(courseId),
      newRequest(courseId),
      newRequest(courseId, { student_id: 'fan-watched' }),
      newRequest(courseId),
    ];
    await enrollAll(api1.baseUrl, [a, b, watched, d]);
    expect((await http(api1.baseUrl, 'DELETE', `/enrollments/${a.idempotency_key}`)).status).toBe(200);
    const patched = await http(api1.baseUrl, 'PATCH', `/courses/${courseId}`, { capacity: 3 }, asAdmin);
    expect(patched.status).toBe(200);

    const record = await courseEvents(api1.baseUrl, courseId);
    expect(record.map((event) => event.type)).toEqual([
      'enrolled',
      'enrolled',
      'waitlisted',
      'waitlisted',
      'dropped',
      'promoted',
      'capacity_changed',
      'promoted',
    ]);
    await operator.untilEvents(record.length);
    await student.untilEvents(2);
    await sleep(300);
    expect(operator.events.map(identity)).toEqual(record.map(identity));
    expect(student.events.map((event) => [event.type, event.student_id])).toEqual([
      ['waitlisted', 'fan-watched'],
      ['promoted', 'fan-watched'],
    ]);
    const lags = [...operator.events, ...student.events].map(
      (event) => event.receivedAt - Date.parse(event.at),
    );
    expect(Math.max(...lags)).toBeLessThan(1000);
  });

  it('resumes on the other process with exactly what was missed, also while changes are being made', async () => {
    const courseId = await newCourse(api1.baseUrl, 10_000);
    const first = await live(api2, asAdmin);
    await subscribe(first, { course_id: courseId });
    await enrollAll(api1.baseUrl, [newRequest(courseId)]);
    await first.untilEvents(1);
    const cursor = first.lastCursor()!;
    await first.close();

    await enrollAll(
      api1.baseUrl,
      Array.from({ length: 50 }, () => newRequest(courseId)),
    );
    const resumed = await live(api1, asAdmin);
    await subscribe(resumed, { course_id: courseId, after: cursor });
    await resumed.untilEvents(50);
    await enrollAll(
      api2.baseUrl,
      Array.from({ length: 5 }, () => newRequest(courseId)),
    );
    await resumed.untilEvents(55);
    await sleep(300);
    const missed = await courseEvents(api1.baseUrl, courseId);
    expect(resumed.events.map(identity)).toEqual(missed.slice(1).map(identity));
    await resumed.close();
    // A course's REST cursor (GET /courses/:id/events) resumes a course subscription too.
    const fromRest = await live(api2, asAdmin);
    await subscribe(fromRest, { course_id: courseId, after: missed[50].cursor });
    await fromRest.untilEvents(5);
    await sleep(200);
    expect(fromRest.events.map(identity)).toEqual(missed.slice(51).map(identity));
    await fromRest.close();

    // Now hop between the processes every few hundred milliseconds while requests keep being decided.
    let producing = true;
    const producer = (async () => {
      let sent = 0;
      while (producing || sent < 60) {
        for (let i = 0; i < 5; i += 1) {
          expect((await http(api1.baseUrl, 'POST', '/enroll', newRequest(courseId))).status).toBe(202);
          sent += 1;
        }
        await sleep(20);
      }
      return sent;
    })();
    const received: LiveEventFrame[] = [...resumed.events];
    let after = resumed.lastCursor()!;
    for (let hop = 0; hop < 8; hop += 1) {
      const client = await live(hop % 2 === 0 ? api2 : api1, asAdmin);
      await subscribe(client, { course_id: courseId, after });
      await sleep(150 + hop * 30);
      await client.close();
      received.push(...client.events);
      after = client.lastCursor()!;
    }
    producing = false;
    const total = 1 + 50 + 5 + (await producer);
    const last = await live(api2, asAdmin);
    await subscribe(last, { course_id: courseId, after });
    await eventually(
      async () => {
        const record = await courseEvents(api1.baseUrl, courseId);
        return record.length === total && received.length + last.events.length >= total - 1
          ? true
          : undefined;
      },
      30_000,
      'every event after the hops',
    );
    await sleep(300);
    received.push(...last.events);
    const record = await courseEvents(api1.baseUrl, courseId);
    expect(received.map(identity)).toEqual(record.slice(1).map(identity));
  });

  it('cuts off a consumer that never reads, holding no more than its send buffer for it', async () => {
    const flooded = await newCourse(api2.baseUrl, 5);
    const healthyCourse = await newCourse(api2.baseUrl, 5);
    const slow = await live(api2, asAdmin);
    await subscribe(slow, { course_id: flooded });
    const healthy = await live(api2, asAdmin);
    await subscribe(healthy, { course_id: healthyCourse });
    slow.socket.pause();
    const rssBefore = metricValue(await metricsOf(api2), 'process_resident_memory_bytes');

    // 300,000 events (about 80 MB of frames) in one transaction, as a stampede's record would grow.
    await writeHistory(ctx.world.env.DATABASE_URL, flooded, 300_000);
    const slowConsumers = 'courseflow_ws_disconnects_total{reason="slow_consumer"}';
    await eventually(
      async () => (metricValue(await metricsOf(api2), slowConsumers) >= 1 ? true : undefined),
      30_000,
    );
    const rssAfter = metricValue(await metricsOf(api2), 'process_resident_memory_bytes');
    expect(rssAfter - rssBefore).toBeLessThan(64 * 1024 * 1024);

    slow.socket.resume();
    expect([1013, 1006]).toContain((await slow.closed).code);
    expect(slow.events.length).toBeLessThan(300_000);
    await enrollAll(api2.baseUrl, [newRequest(healthyCourse)]);
    await healthy.untilEvents(1);
  });

  it('says 1001 to its clients on SIGTERM; they resume on the other process and miss nothing', async () => {
    const courseId = await newCourse(api2.baseUrl, 10_000);
    const client = await live(api1, asAdmin);
    await subscribe(client, { course_id: courseId });
    let producing = true;
    const producer = (async () => {
      let sent = 0;
      while (producing) {
        expect((await http(api2.baseUrl, 'POST', '/enroll', newRequest(courseId))).status).toBe(202);
        sent += 1;
        await sleep(10);
      }
      return sent;
    })();
    await client.untilEvents(10);
    api1.process.kill('SIGTERM');
    expect((await client.closed).code).toBe(1001);
    expect((await api1.exited).code).toBe(0);
    const resumed = await live(api2, asAdmin);
    await subscribe(resumed, { course_id: courseId, after: client.lastCursor()! });
    await sleep(500);
    producing = false;
    const total = await producer;
    await eventually(
      async () => {
        const record = await courseEvents(api2.baseUrl, courseId);
        return record.length === total && client.events.length + resumed.events.length >= total
          ? true
          : undefined;
      },
      30_000,
      'every event after the restart',
    );
    await sleep(300);
    const record = await courseEvents(api2.baseUrl, courseId);
    expect([...client.events, ...resumed.events].map(identity)).toEqual(record.map(identity));
  });
});
