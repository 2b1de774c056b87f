import {
  asAdmin,
  eventually,
  http,
  newCourse,
  newRequest,
  startApp,
  useWorld,
  waitForDecision,
} from './support/test-app.js';
import { connect } from './support/db-client.js';
import { foldCourse, foldRequest } from './support/lifecycle.js';

/** Drops, cancellations, promotions, capacity and window changes through HTTP, as docs/guarantees.md says. */
describe('the waitlist lifecycle', () => {
  const ctx = useWorld();

  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    http(ctx.baseUrl, method, path, body, headers);
  const drop = (key: string) => call('DELETE', `/enrollments/${encodeURIComponent(key)}`);
  const course = async (id: number) => (await call('GET', `/courses/${id}`)).body;

  /** Enrolls the requests one after another (so their order is fixed) and waits for each decision. */
  async function decideInOrder(courseId: number, count: number) {
    const keys: string[] = [];
    for (let n = 0; n < count; n += 1) {
      const body = newRequest(courseId);
      expect((await call('POST', '/enroll', body)).status).toBe(202);
      await waitForDecision(ctx.baseUrl, body.idempotency_key);
      keys.push(body.idempotency_key);
    }
    return keys;
  }
  const statusOf = async (key: string) => (await call('GET', `/enrollments/${encodeURIComponent(key)}`)).body;

  it('drops an enrolled request and promotes the waitlist head in the same transaction', async () => {
    const courseId = await newCourse(ctx.baseUrl, 2);
    const [first, second, third, fourth] = await decideInOrder(courseId, 4);
    expect((await statusOf(fourth)).waitlist_position).toBe(2);

    const dropped = await drop(first);
    expect(dropped.status).toBe(200);
    expect(dropped.body).toMatchObject({ status: 'dropped', waitlist_position: null });
    expect(Date.parse(dropped.body.dropped_at)).toBeGreaterThan(0);

    expect(await statusOf(third)).toMatchObject({ status: 'enrolled', waitlist_position: null });
    expect(Date.parse((await statusOf(third)).promoted_at)).toBeGreaterThan(0);
    expect(await statusOf(fourth)).toMatchObject({ status: 'waitlisted', waitlist_position: 1 });
    expect(await statusOf(second)).toMatchObject({ status: 'enrolled', promoted_at: null });
    expect(await course(courseId)).toMatchObject({ seats_taken: 2, seats_available: 0, waitlist_length: 1 });
  });

  it('moves everyone behind a waitlisted request up one place when it leaves', async () => {
    const courseId = await newCourse(ctx.baseUrl, 1);
    const keys = await decideInOrder(courseId, 7); // 1 enrolled, 6 waitlisted at places 1..6
    for (const leaving of [keys[3], keys[6], keys[1], keys[5]]) {
      expect((await drop(leaving)).body).toMatchObject({ status: 'dropped' });
    }
    const places = await Promise.all(
      [keys[2], keys[4]].map(async (key) => (await statusOf(key)).waitlist_position),
    );
    expect(places).toEqual([1, 2]);
    expect(await course(courseId)).toMatchObject({ seats_taken: 1, waitlist_length: 2 });
  });

  it('answers a repeated DELETE with the same final state, and refuses a rejected request with 409', async () => {
    const courseId = await newCourse(ctx.baseUrl, 1);
    const body = newRequest(courseId);
    await call('POST', '/enroll', body);
    await waitForDecision(ctx.baseUrl, body.idempotency_key);
    const duplicate = { ...newRequest(courseId), student_id: body.student_id };
    await call('POST', '/enroll', duplicate);
    expect((await waitForDecision(ctx.baseUrl, duplicate.idempotency_key)).body).toMatchObject({
      status: 'rejected',
      reason: 'already_enrolled',
    });

    const first = await drop(body.idempotency_key);
    const again = await drop(body.idempotency_key);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const refused = await drop(duplicate.idempotency_key);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ statusCode: 409, error: 'Conflict' });
    expect(refused.body.message).toContain('rejected');
    expect((await drop('no-such-key')).status).toBe(404);
  });

  it('lets a student who dropped request the course again with a new key', async () => {
    const courseId = await newCourse(ctx.baseUrl, 1);
    const body = newRequest(courseId);
    await call('POST', '/enroll', body);
    await waitForDecision(ctx.baseUrl, body.idempotency_key);
    await drop(body.idempotency_key);
    const again = { ...newRequest(courseId), student_id: body.student_id };
    expect((await call('POST', '/enroll', again)).status).toBe(202);
    expect((await waitForDecision(ctx.baseUrl, again.idempotency_key)).body.status).toBe('enrolled');
  });

  it('raises capacity with promotions in waitlist order, refuses going below seats_taken, allows exactly it', async () => {
    const courseId = await newCourse(ctx.baseUrl, 1);
    const keys = await decideInOrder(courseId, 5);
    const raised = await call('PATCH', `/courses/${courseId}`, { capacity: 3 }, asAdmin);
    expect(raised.status).toBe(200);
    expect(raised.body).toMatchObject({
      capacity: 3,
      seats_taken: 3,
      seats_available: 0,
      waitlist_length: 2,
    });
    expect((await statusOf(keys[1])).status).toBe('enrolled');
    expect((await statusOf(keys[2])).status).toBe('enrolled');
    expect(await statusOf(keys[3])).toMatchObject({ status: 'waitlisted', waitlist_position: 1 });

    const lowered = await call('PATCH', `/courses/${courseId}`, { capacity: 2 }, asAdmin);
    expect(lowered.status).toBe(409);
    expect(lowered.body.message).toContain('capacity');
    expect(await course(courseId)).toMatchObject({ capacity: 3, seats_taken: 3 });
    await drop(keys[0]); // keys[3] is promoted
    await drop(keys[3]); // keys[4] is promoted
    const exact = await call('PATCH', `/courses/${courseId}`, { capacity: 3, title: 'Renamed' }, asAdmin);
    expect(exact.status).toBe(200);
    expect(exact.body).toMatchObject({ capacity: 3, title: 'Renamed', seats_taken: 3, waitlist_length: 0 });
  });

  it('answers PATCH errors as the contract says', async () => {
    const courseId = await newCourse(ctx.baseUrl, 1);
    expect((await call('PATCH', `/courses/${courseId}`, { capacity: 2 })).status).toBe(401);
    expect((await call('PATCH', '/courses/99999999', { capacity: 2 }, asAdmin)).status).toBe(404);
    for (const invalid of [
      { capacity: -1 },
      { capacity: 'x' },
      { title: '' },
      { code: 'NEW' },
      { opens_at: 'soon' },
    ]) {
      const answer = await call('PATCH', `/courses/${courseId}`, invalid, asAdmin);
      expect(answer.status).toBe(400);
      expect(JSON.stringify(answer.body.message)).toContain(Object.keys(invalid)[0]);
    }
    const backwards = await call(
      'PATCH',
      `/courses/${courseId}`,
      { opens_at: '2030-01-02T00:00:00Z', closes_at: '2030-01-01T00:00:00Z' },
      asAdmin,
    );
    expect(backwards.status).toBe(400);
    expect(backwards.body.message).toBe('closes_at must be after opens_at');
  });

  it('refuses requests outside the registration window with 409 naming when, queuing nothing', async () => {
    const opensAt = new Date(Date.now() + 3_600_000).toISOString();
    const created = await call(
      'POST',
      '/courses',
      { code: `WIN-${Date.now()}`, title: 'Windowed', capacity: 5, opens_at: opensAt },
      asAdmin,
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ opens_at: opensAt.replace(/Z$/, 'Z'), closes_at: null });
    const early = newRequest(created.body.id);
    const before = await call('POST', '/enroll', early);
    expect(before.status).toBe(409);
    expect(before.body.message).toBe(`registration for course_id ${created.body.id} opens at ${opensAt}`);
    expect((await statusOf(early.idempotency_key)).statusCode).toBe(404); // the key is not remembered

    const closedAt = new Date(Date.now() - 1000).toISOString();
    const patched = await call(
      'PATCH',
      `/courses/${created.body.id}`,
      { opens_at: null, closes_at: closedAt },
      asAdmin,
    );
    expect(patched.status).toBe(200);
    const late = await call('POST', '/enroll', early);
    expect(late.status).toBe(409);
    expect(late.body.message).toBe(`registration for course_id ${created.body.id} closed at ${closedAt}`);

    await call('PATCH', `/courses/${created.body.id}`, { closes_at: null }, asAdmin);
    expect((await call('POST', '/enroll', early)).status).toBe(202); // the same key, once open
  });

  it('decides a request accepted just before the window closed', async () => {
    const api2 = await startApp(ctx.world, { ROLE: 'api' });
    try {
      const courseId = await newCourse(api2.baseUrl, 1);
      const body = newRequest(courseId);
      expect((await http(api2.baseUrl, 'POST', '/enroll', body)).status).toBe(202);
      await http(
        api2.baseUrl,
        'PATCH',
        `/courses/${courseId}`,
        { closes_at: new Date().toISOString() },
        asAdmin,
      );
      // The worker (the main app) decides it after the close.
      expect((await waitForDecision(ctx.baseUrl, body.idempotency_key)).body.status).toBe('enrolled');
    } finally {
      await api2.close();
    }
  });

  it("lists a student's requests newest first, queued ones included, with current places", async () => {
    const apiOnly = await startApp(ctx.world, { ROLE: 'api' });
    try {
      const full = await newCourse(ctx.baseUrl, 0);
      const studentId = `lister-${Date.now()}`;
      const waitlisted = { ...newRequest(full), student_id: studentId };
      await call('POST', '/enroll', waitlisted);
      await waitForDecision(ctx.baseUrl, waitlisted.idempotency_key);
      const other = await newCourse(ctx.baseUrl, 1);
      await ctx.app.close(); // no worker now: the next request stays queued
      const queued = { ...newRequest(other), student_id: studentId };
      expect((await http(apiOnly.baseUrl, 'POST', '/enroll', queued)).status).toBe(202);

      const listed = await http(apiOnly.baseUrl, 'GET', `/students/${studentId}/requests`);
      expect(listed.status).toBe(200);
      expect(
        listed.body.map((request: { idempotency_key: string; status: string }) => [
          request.idempotency_key,
          request.status,
        ]),
      ).toEqual([
        [queued.idempotency_key, 'queued'],
        [waitlisted.idempotency_key, 'waitlisted'],
      ]);
      expect(listed.body[1].waitlist_position).toBe(1);
      expect((await http(apiOnly.baseUrl, 'GET', '/students/nobody-here/requests')).body).toEqual([]);
      expect((await http(apiOnly.baseUrl, 'GET', '/students/bad%20id/requests')).status).toBe(400);

      // Cancelled while queued: its one decision; the worker decides nothing more for it.
      const cancelled = await http(apiOnly.baseUrl, 'DELETE', `/enrollments/${queued.idempotency_key}`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({ status: 'cancelled', waitlist_position: null });
    } finally {
      await ctx.restartApp();
      await apiOnly.close();
    }
    const db = await connect(ctx.world.database.url);
    try {
      await eventually(async () => {
        const { rows } = await db.query(
          `SELECT count(*)::int AS n FROM decisions WHERE status = 'cancelled'`,
        );
        return rows[0].n >= 1 ? true : undefined;
      });
    } finally {
      await db.end();
    }
  });

  it('records every change as an event whose fold is the current state, readable by cursor', async () => {
    const courseId = await newCourse(ctx.baseUrl, 1);
    const keys = await decideInOrder(courseId, 4);
    await drop(keys[0]);
    await drop(keys[2]);
    await call('PATCH', `/courses/${courseId}`, { capacity: 2 }, asAdmin);

    expect((await call('GET', `/courses/${courseId}/events`)).status).toBe(401);
    const all = await call('GET', `/courses/${courseId}/events`, undefined, asAdmin);
    const folded = foldCourse(all.body.events);
    for (const key of keys) {
      const { status, body } = await call('GET', `/enrollments/${encodeURIComponent(key)}/events`);
      expect(status).toBe(200);
      const current = await statusOf(key);
      expect(foldRequest(body.events)).toBe(current.status);
      expect(folded.get(key)).toEqual({
        status: current.status,
        waitlist_position: current.waitlist_position,
      });
    }
    expect((await call('GET', '/enrollments/nope/events')).status).toBe(404);

    expect(all.body.events.map((event: { type: string }) => event.type)).toEqual([
      'enrolled',
      'waitlisted',
      'waitlisted',
      'waitlisted',
      'dropped',
      'promoted',
      'dropped',
      'capacity_changed',
      'promoted',
    ]);
    expect(all.body.events[7]).toMatchObject({ capacity: 2, student_id: null, idempotency_key: null });
    const firstPage = await call('GET', `/courses/${courseId}/events?limit=4`, undefined, asAdmin);
    const rest = await call(
      'GET',
      `/courses/${courseId}/events?after=${firstPage.body.next}`,
      undefined,
      asAdmin,
    );
    expect([...firstPage.body.events, ...rest.body.events]).toEqual(all.body.events);
    const upToDate = await call(
      'GET',
      `/courses/${courseId}/events?after=${rest.body.next}`,
      undefined,
      asAdmin,
    );
    expect(upToDate.body).toEqual({ events: [], next: rest.body.next });
    for (const query of ['after=abc', 'after=-1', 'limit=0', 'limit=1001']) {
      expect((await call('GET', `/courses/${courseId}/events?${query}`, undefined, asAdmin)).status).toBe(
        400,
      );
    }
    expect((await call('GET', '/courses/99999999/events', undefined, asAdmin)).status).toBe(404);
  });
});
