import { setTimeout as sleep } from 'node:timers/promises';
import { connect as connectDatabase, writeHistory } from './support/db-client.js';
import { connectLive, type LiveClient, subscribe } from './support/live-client.js';
import {
  ADMIN_TOKEN,
  asAdmin,
  asClient,
  CLIENT_TOKEN,
  courseEvents,
  enrollAll,
  eventually,
  http,
  metricValue,
  newCourse,
  newRequest,
  startApp,
  useWorld,
} from './support/test-app.js';

describe('live events on /ws, one process', () => {
  const ctx = useWorld({ appEnv: { WS_MAX_SUBSCRIPTIONS: '3', WS_HEARTBEAT_MS: '300' } });
  const clients: LiveClient[] = [];
  const connect = async (options?: Parameters<typeof connectLive>[1]) => {
    const client = await connectLive(ctx.baseUrl, options);
    clients.push(client);
    return client;
  };

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  it("tells a student its own requests' decisions and later changes, and nobody else's", async () => {
    const courseId = await newCourse(ctx.baseUrl, 1);
    const mine = newRequest(courseId, { student_id: 'live-s-1' });
    const other = newRequest(courseId);
    const client = await connect();
    const subscribed = await subscribe(client, { student_id: 'live-s-1' });
    expect(subscribed).toMatchObject({
      type: 'subscribed',
      student_id: 'live-s-1',
      cursor: expect.any(String),
    });

    await enrollAll(ctx.baseUrl, [other, mine]);
    await client.untilEvents(1);
    expect(client.events[0]).toMatchObject({
      type: 'waitlisted',
      course_id: courseId,
      student_id: 'live-s-1',
      idempotency_key: mine.idempotency_key,
      status: 'waitlisted',
      waitlist_position: 1,
    });
    expect((await http(ctx.baseUrl, 'DELETE', `/enrollments/${other.idempotency_key}`)).status).toBe(200);
    await client.untilEvents(2);
    expect(client.events[1]).toMatchObject({ type: 'promoted', status: 'enrolled', waitlist_position: null });
    await sleep(300);
    expect(client.events.map((event) => event.student_id)).toEqual(['live-s-1', 'live-s-1']);
  });

  it('follows one request by its idempotency key, from its decision to its drop', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    const request = newRequest(courseId);
    const client = await connect();
    await subscribe(client, { idempotency_key: request.idempotency_key });
    await enrollAll(ctx.baseUrl, [request, newRequest(courseId)]);
    await http(ctx.baseUrl, 'DELETE', `/enrollments/${request.idempotency_key}`);
    await client.untilEvents(2);
    await sleep(200);
    expect(client.events.map((event) => [event.type, event.idempotency_key])).toEqual([
      ['enrolled', request.idempotency_key],
      ['dropped', request.idempotency_key],
    ]);
  });

  it('gives a course to operators only: the token in the message or on the upgrade request', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    const anonymous = await connect();
    expect(await subscribe(anonymous, { course_id: courseId })).toMatchObject({
      type: 'error',
      field: 'token',
    });
    expect(await subscribe(anonymous, { course_id: courseId, token: 'wrong-token-123' })).toMatchObject({
      type: 'error',
      field: 'token',
    });
    expect(await subscribe(anonymous, { course_id: courseId, token: ADMIN_TOKEN })).toMatchObject({
      type: 'subscribed',
      course_id: courseId,
    });
    const byHeader = await connect({ headers: { authorization: `bearer ${ADMIN_TOKEN}` } });
    expect(await subscribe(byHeader, { course_id: courseId })).toMatchObject({ type: 'subscribed' });
    // A wrong token on the upgrade request is refused there (CLIENT_TOKENS is set in the tests).
    await expect(
      connectLive(ctx.baseUrl, { headers: { authorization: 'Bearer wrong-token-123' } }),
    ).rejects.toThrow(/401/);
    expect(await subscribe(byHeader, { course_id: 2_000_000_000 })).toMatchObject({
      type: 'error',
      field: 'course_id',
      message: 'course_id 2000000000 does not exist',
    });

    await enrollAll(ctx.baseUrl, [newRequest(courseId)]);
    await anonymous.untilEvents(1);
    await byHeader.untilEvents(1);
  });

  it('takes the client token on the upgrade request or in the subscribe message, and nothing without one', async () => {
    const bare = await connect({ headers: {} });
    expect(await subscribe(bare, { student_id: 'token-1' })).toMatchObject({
      type: 'error',
      field: 'token',
      message: expect.stringContaining('client token'),
    });
    expect(await subscribe(bare, { student_id: 'token-1', token: 'wrong-token-123' })).toMatchObject({
      type: 'error',
      field: 'token',
    });
    expect(await subscribe(bare, { student_id: 'token-1', token: CLIENT_TOKEN })).toMatchObject({
      type: 'subscribed',
    });
    const byHeader = await connect({ headers: { authorization: `Bearer ${CLIENT_TOKEN}` } });
    expect(await subscribe(byHeader, { student_id: 'token-1' })).toMatchObject({ type: 'subscribed' });
    // A client token is not an operator's: a course needs the admin token.
    expect(await subscribe(byHeader, { course_id: 1, token: CLIENT_TOKEN })).toMatchObject({
      type: 'error',
      field: 'token',
    });
    const courseId = await newCourse(ctx.baseUrl, 5);
    await enrollAll(ctx.baseUrl, [newRequest(courseId, { student_id: 'token-1' })]);
    await bare.untilEvents(1);
    await byHeader.untilEvents(1);
  });

  it('answers a bad message with an error and keeps the connection', async () => {
    const client = await connect();
    const bad: unknown[] = [
      'not json',
      '[1,2]',
      { type: 'subscribe' },
      { type: 'subscribe', student_id: 's 1' },
      { type: 'subscribe', student_id: 's-1', course_id: 1 },
      { type: 'subscribe', student_id: 's-1', extra: true },
      { type: 'subscribe', student_id: 's-1', after: 'not-a-cursor' },
      { type: 'subscribe', course_id: '1', token: ADMIN_TOKEN },
      { type: 'unsubscribe', student_id: 'never-subscribed' },
      { type: 'hello' },
    ];
    for (const message of bad) client.send(message);
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await eventually(async () => (client.frames.length >= bad.length + 1 ? true : undefined));
    expect(client.frames.every((frame) => frame.type === 'error' && typeof frame.message === 'string')).toBe(
      true,
    );
    expect(client.frames.map((frame) => frame.field)).toEqual([
      undefined,
      undefined,
      undefined,
      'student_id',
      'course_id',
      'extra',
      'after',
      'course_id',
      undefined,
      'type',
      undefined,
    ]);
    expect(await subscribe(client, { student_id: 's-still-here' })).toMatchObject({ type: 'subscribed' });
  });

  it('caps the subscriptions of one connection, refuses a second of the same, and unsubscribes', async () => {
    const client = await connect();
    for (const student of ['cap-1', 'cap-2', 'cap-3'])
      expect(await subscribe(client, { student_id: student })).toMatchObject({ type: 'subscribed' });
    expect(await subscribe(client, { student_id: 'cap-4' })).toMatchObject({
      type: 'error',
      message: 'a connection holds at most 3 subscriptions',
    });
    expect(await subscribe(client, { student_id: 'cap-1' })).toMatchObject({
      type: 'error',
      message: 'already subscribed',
    });
    const seen = client.frames.length;
    client.send({ type: 'unsubscribe', student_id: 'cap-1' });
    expect(await client.reply('unsubscribed', seen)).toMatchObject({ student_id: 'cap-1' });
    expect(await subscribe(client, { student_id: 'cap-4' })).toMatchObject({ type: 'subscribed' });

    const courseId = await newCourse(ctx.baseUrl, 5);
    await enrollAll(ctx.baseUrl, [
      newRequest(courseId, { student_id: 'cap-1' }),
      newRequest(courseId, { student_id: 'cap-4' }),
    ]);
    await client.untilEvents(1);
    await sleep(300);
    expect(client.events.map((event) => event.student_id)).toEqual(['cap-4']);
  });

  it('sends an event that two subscriptions of a connection select once', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    const client = await connect({ headers: asAdmin });
    await subscribe(client, { course_id: courseId });
    await subscribe(client, { student_id: 'both-1' });
    await enrollAll(ctx.baseUrl, [newRequest(courseId, { student_id: 'both-1' }), newRequest(courseId)]);
    await client.untilEvents(2);
    await sleep(300);
    expect(client.events).toHaveLength(2);
    expect(new Set(client.events.map((event) => event.cursor)).size).toBe(2);
  });

  it('catches every subscription up when the process loses its LISTEN connection and gets it back', async () => {
    const courseId = await newCourse(ctx.baseUrl, 1000);
    const client = await connect({ headers: asAdmin });
    await subscribe(client, { course_id: courseId });
    await subscribe(client, { student_id: 'listen-lost' });
    await enrollAll(ctx.baseUrl, [newRequest(courseId)]);
    await client.untilEvents(1);

    const database = await connectDatabase(ctx.world.env.DATABASE_URL);
    try {
      const [{ count }] = (
        await database.query(
          `SELECT count(pg_terminate_backend(pid))::int AS count FROM pg_stat_activity
            WHERE application_name = 'courseflow-live' AND datname = current_database()`,
        )
      ).rows;
      expect(count).toBe(1);
    } finally {
      await database.end();
    }
    // Decided while nobody listens: the wake-ups are lost, the events are not.
    await enrollAll(ctx.baseUrl, [
      ...Array.from({ length: 20 }, () => newRequest(courseId)),
      newRequest(courseId, { student_id: 'listen-lost' }),
    ]);
    await client.untilEvents(22);
    await enrollAll(ctx.baseUrl, [newRequest(courseId)]);
    await client.untilEvents(23);
    await sleep(300);
    const record = await courseEvents(ctx.baseUrl, courseId);
    // Both subscriptions replay at once, so the student's own event may come before the course's earlier
    // ones (each subscription keeps commit order; the connection sends an event once).
    expect(client.events.map((event) => event.idempotency_key).sort()).toEqual(
      record.map((event: any) => event.idempotency_key).sort(),
    );
  });

  it('resumes two overlapping subscriptions without repeating what one sent while the other replayed', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    await writeHistory(ctx.world.env.DATABASE_URL, courseId, 20_000);
    // Its own process: this client stops reading for a while, longer than the suite's 300 ms heartbeat.
    const patient = await startApp(ctx.world);
    const first = await connectLive(patient.baseUrl, { headers: asAdmin });
    clients.push(first);
    await subscribe(first, { student_id: 'overlap-1' });
    first.socket.pause();
    first.send({ type: 'subscribe', course_id: courseId, after: '0' });
    await sleep(300);
    // The course's replay waits for the client to read; meanwhile the student's decision goes out live.
    const mine = newRequest(courseId, { student_id: 'overlap-1' });
    await enrollAll(ctx.baseUrl, [mine]);
    await sleep(300);
    first.socket.resume();
    await first.untilEvents(20_001, 30_000);
    const sentAt = first.events.findIndex((event) => event.idempotency_key === mine.idempotency_key);
    expect(sentAt).toBeLessThan(20_000);
    const cursor = first.events[sentAt].cursor;
    await first.close();

    const second = await connectLive(patient.baseUrl, { headers: asAdmin });
    clients.push(second);
    await subscribe(second, { student_id: 'overlap-1', after: cursor });
    await subscribe(second, { course_id: courseId, after: cursor });
    await second.untilEvents(20_000 - sentAt, 30_000);
    await sleep(300);
    const keys = [...first.events.slice(0, sentAt + 1), ...second.events].map(
      (event) => event.idempotency_key,
    );
    expect(keys.filter((key) => key === mine.idempotency_key)).toHaveLength(1);
    expect(keys).toHaveLength(20_001);
    await second.close();
    await patient.close();
  });

  it('gives a course subscription made while only students are followed every event after its start', async () => {
    const courseId = await newCourse(ctx.baseUrl, 10_000);
    // A student followed: the process reads only followed students' events of courses nobody follows whole.
    const student = await connect();
    await subscribe(student, { student_id: 'filtered-1' });
    let producing = true;
    const producer = (async () => {
      let sent = 0;
      while (producing) {
        const request = newRequest(courseId, sent % 10 === 0 ? { student_id: `filtered-${sent}` } : {});
        expect((await http(ctx.baseUrl, 'POST', '/enroll', request)).status).toBe(202);
        sent += 1;
      }
      return sent;
    })();
    const operators: Array<{ client: LiveClient; from: number }> = [];
    for (let i = 0; i < 6; i += 1) {
      await sleep(100 + i * 40);
      const client = await connect({ headers: asAdmin });
      const subscribed = await subscribe(client, { course_id: courseId });
      const position = JSON.parse(Buffer.from(subscribed.cursor, 'base64url').toString())[`c:${courseId}`];
      operators.push({ client, from: position[0][1] });
    }
    producing = false;
    const total = await producer;
    await eventually(async () =>
      (await courseEvents(ctx.baseUrl, courseId)).length === total ? true : undefined,
    );
    const record = await courseEvents(ctx.baseUrl, courseId);
    for (const { client, from } of operators) {
      const expected = record.slice(from).map((event) => event.idempotency_key);
      await client.untilEvents(expected.length);
      await sleep(100);
      expect(client.events.map((event) => event.idempotency_key)).toEqual(expected);
    }
  });

  it('drops a client that stops answering pings and keeps one that answers', async () => {
    const silent = await connect({ autoPong: false });
    const answering = await connect();
    const { code } = await silent.closed;
    expect(code).toBe(1006);
    await sleep(700);
    expect(answering.socket.readyState).toBe(answering.socket.OPEN);
    const metrics = await (await fetch(`${ctx.baseUrl}/metrics`, { headers: asClient })).text();
    expect(
      metricValue(metrics, 'courseflow_ws_disconnects_total{reason="heartbeat"}'),
    ).toBeGreaterThanOrEqual(1);
  });

  it('counts connections, subscriptions and delivered events in /metrics', async () => {
    const before = await (await fetch(`${ctx.baseUrl}/metrics`, { headers: asClient })).text();
    const client = await connect();
    await subscribe(client, { student_id: 'metrics-1' });
    await subscribe(client, { student_id: 'metrics-2' });
    const courseId = await newCourse(ctx.baseUrl, 5);
    await enrollAll(ctx.baseUrl, [newRequest(courseId, { student_id: 'metrics-1' })]);
    await client.untilEvents(1);
    const after = await (await fetch(`${ctx.baseUrl}/metrics`, { headers: asClient })).text();
    expect(metricValue(after, 'courseflow_ws_connections')).toBe(
      metricValue(before, 'courseflow_ws_connections') + 1,
    );
    expect(metricValue(after, 'courseflow_ws_subscriptions')).toBe(
      metricValue(before, 'courseflow_ws_subscriptions') + 2,
    );
    expect(metricValue(after, 'courseflow_ws_events_delivered_total')).toBeGreaterThan(
      metricValue(before, 'courseflow_ws_events_delivered_total'),
    );
    expect(metricValue(after, 'courseflow_ws_delivery_seconds_count')).toBeGreaterThan(
      metricValue(before, 'courseflow_ws_delivery_seconds_count'),
    );
  });
});
