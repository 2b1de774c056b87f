import { setTimeout as sleep } from 'node:timers/promises';
import { jest } from '@jest/globals';
import { connect } from './support/db-client.js';
import { http, newCourse, useWorld, waitForDecision } from './support/test-app.js';

describe('POST /enroll and GET /enrollments/:key', () => {
  const ctx = useWorld();
  let courseId: number;

  // Each test its own one-seat course: no test reads what another left behind.
  beforeEach(async () => {
    courseId = await newCourse(ctx.baseUrl, 1);
  });

  const enroll = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    http(ctx.baseUrl, 'POST', '/enroll', body, headers);
  const decided = (key: string) => waitForDecision(ctx.baseUrl, key);

  it('answers 202 with the queued request and a Location, then shows the decision there', async () => {
    const accepted = await enroll({
      student_id: 's-1',
      course_id: courseId,
      priority: 5,
      idempotency_key: 'key/one?',
    });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('location')).toBe('/enrollments/key%2Fone%3F');
    expect(accepted.body).toEqual({
      idempotency_key: 'key/one?',
      student_id: 's-1',
      course_id: courseId,
      priority: 5,
      status: 'queued',
      waitlist_position: null,
      reason: null,
      requested_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      decided_at: null,
      promoted_at: null,
      dropped_at: null,
      swap_for: null,
      blocked_reason: null,
      offer_expires_at: null,
      draw_rank: null,
    });
    expect(Object.keys(accepted.body).slice(-4)).toEqual([
      'swap_for',
      'blocked_reason',
      'offer_expires_at',
      'draw_rank',
    ]);
    const outcome = await decided('key/one?');
    expect(outcome.status).toBe(200);
    expect(outcome.body).toMatchObject({
      status: 'enrolled',
      reason: null,
      waitlist_position: null,
      priority: 5,
    });
    expect(outcome.body.requested_at).toBe(accepted.body.requested_at);
    expect(Date.parse(outcome.body.decided_at)).toBeGreaterThanOrEqual(
      Date.parse(accepted.body.requested_at),
    );
  });

  it('takes the idempotency key from the Idempotency-Key header', async () => {
    const accepted = await enroll(
      { student_id: 's-2', course_id: courseId },
      { 'idempotency-key': 'header-key-2' },
    );
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ idempotency_key: 'header-key-2', priority: 0 });
    expect((await decided('header-key-2')).body.status).toBe('enrolled');
  });

  it('accepts the same key in body and header', async () => {
    const accepted = await enroll(
      { student_id: 's-3', course_id: courseId, idempotency_key: 'both-3' },
      { 'idempotency-key': 'both-3' },
    );
    expect(accepted.status).toBe(202);
    const outcome = await decided('both-3');
    expect(outcome.body).toMatchObject({ idempotency_key: 'both-3', status: 'enrolled' });
  });

  it('answers a repeat of a known key with 200 and the request as it stands now', async () => {
    expect(
      (await enroll({ student_id: 's-4a', course_id: courseId, idempotency_key: 'seat-4' })).status,
    ).toBe(202);
    await decided('seat-4');
    const first = await enroll({ student_id: 's-4', course_id: courseId, idempotency_key: 'repeat-4' });
    expect(first.status).toBe(202);
    await decided('repeat-4');
    const again = await enroll({ student_id: 's-4', course_id: courseId, idempotency_key: 'repeat-4' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      idempotency_key: 'repeat-4',
      status: 'waitlisted',
      waitlist_position: 1,
    });
    expect(again.headers.get('location')).toBe('/enrollments/repeat-4');
  });

  it.each([
    ['student_id', { student_id: 's-other' }],
    ['course_id', { course_id: -1 }],
    ['priority', { priority: 9 }],
  ])('answers 422 when a known key comes with another %s', async (field, change) => {
    const key = `reuse-${field}`;
    const original = { student_id: 's-5', course_id: courseId, priority: 1, idempotency_key: key };
    expect((await enroll(original)).status).toBe(202);
    const otherCourse = await newCourse(ctx.baseUrl, 1);
    const changed = { ...original, ...change, ...(field === 'course_id' ? { course_id: otherCourse } : {}) };
    const reused = await enroll(changed);
    expect(reused.status).toBe(422);
    expect(reused.body.message).toContain(field);
    // The original request is untouched.
    expect((await decided(key)).body).toMatchObject({ student_id: 's-5', course_id: courseId, priority: 1 });
  });

  it('treats an omitted priority as 0 when comparing a replay', async () => {
    expect((await enroll({ student_id: 's-6', course_id: courseId, idempotency_key: 'prio-0' })).status).toBe(
      202,
    );
    expect(
      (await enroll({ student_id: 's-6', course_id: courseId, priority: 0, idempotency_key: 'prio-0' }))
        .status,
    ).toBe(200);
  });

  it('answers 404 for an unknown course and queues nothing', async () => {
    const missing = await enroll({ student_id: 's-7', course_id: 987654, idempotency_key: 'unknown-course' });
    expect(missing.status).toBe(404);
    expect(missing.body.message).toContain('course_id');
    expect((await http(ctx.baseUrl, 'GET', '/enrollments/unknown-course')).status).toBe(404);
  });

  it('answers 404 for an unknown idempotency key', async () => {
    const missing = await http(ctx.baseUrl, 'GET', '/enrollments/never-sent');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
  });

  it.each([
    ['student_id', { student_id: '' }],
    ['student_id', { student_id: 'has space' }],
    ['student_id', { student_id: 'x'.repeat(65) }],
    ['student_id', { student_id: 42 }],
    ['course_id', { course_id: '1' }],
    ['course_id', { course_id: 0 }],
    ['course_id', { course_id: 1.5 }],
    ['priority', { priority: 101 }],
    ['priority', { priority: -1 }],
    ['priority', { priority: 'high' }],
    ['idempotency_key', { idempotency_key: '' }],
    ['idempotency_key', { idempotency_key: 'k'.repeat(129) }],
    ['idempotency_key', { idempotency_key: 'tab\there' }],
    ['idempotency_key', { idempotency_key: 'naïve' }],
    ['seat', { seat: 'A1' }],
  ])('answers 400 naming %s when it is invalid', async (field, change) => {
    const body = { student_id: 's-8', course_id: courseId, idempotency_key: `bad-${field}`, ...change };
    const rejected = await enroll(body);
    expect(rejected.status).toBe(400);
    expect(rejected.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(JSON.stringify(rejected.body.message)).toContain(field);
  });

  it('answers 400 when neither body nor header carries an idempotency key', async () => {
    const rejected = await enroll({ student_id: 's-9', course_id: courseId });
    expect(rejected.status).toBe(400);
    expect(rejected.body.message).toContain('idempotency_key');
  });

  it('answers 400 when the body and header keys differ, and queues nothing', async () => {
    const rejected = await enroll(
      { student_id: 's-10', course_id: courseId, idempotency_key: 'body-key' },
      { 'idempotency-key': 'header-key' },
    );
    expect(rejected.status).toBe(400);
    expect(rejected.body.message).toContain('idempotency_key');
    expect((await http(ctx.baseUrl, 'GET', '/enrollments/body-key')).status).toBe(404);
    expect((await http(ctx.baseUrl, 'GET', '/enrollments/header-key')).status).toBe(404);
  });

  it('answers 400 naming the header when the Idempotency-Key header is malformed, and queues nothing', async () => {
    const rejected = await enroll(
      { student_id: 's-11', course_id: courseId },
      { 'idempotency-key': 'k'.repeat(129) },
    );
    expect(rejected.status).toBe(400);
    expect(rejected.body.message).toBe(
      'Idempotency-Key header must be 1..128 printable ASCII characters, not . or ..',
    );
    expect((await http(ctx.baseUrl, 'GET', `/enrollments/${'k'.repeat(129)}`)).status).toBe(404);
  });

  it('answers 400 to a malformed JSON body', async () => {
    expect((await http(ctx.baseUrl, 'POST', '/enroll', '{"student_id":')).status).toBe(400);
  });

  it('keeps the course counters equal to the rows behind them', async () => {
    const keys = ['count-1', 'count-2', 'count-3'];
    for (const [index, key] of keys.entries()) {
      expect(
        (await enroll({ student_id: `c-${index}`, course_id: courseId, idempotency_key: key })).status,
      ).toBe(202);
    }
    for (const key of keys) await decided(key);
    const db = await connect(ctx.world.database.url);
    try {
      const { rows } = await db.query(
        `SELECT c.seats_taken, c.waitlist_length,
                (SELECT count(*)::int FROM enrollments WHERE course_id = c.id) AS enrolled,
                (SELECT count(*)::int FROM waitlist_entries WHERE course_id = c.id) AS waitlisted
           FROM courses c WHERE c.id = $1`,
        [courseId],
      );
      expect(rows[0]).toEqual({ seats_taken: 1, waitlist_length: 2, enrolled: 1, waitlisted: 2 });
    } finally {
      await db.end();
    }
  });
});

describe('POST /enroll while Redis is unreachable', () => {
  let courseId: number;

  beforeAll(() => {
    // BullMQ prints the refused connections of its queues to the console before any listener is attached.
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  const ctx = useWorld();
  beforeAll(async () => {
    // The course is created through a healthy instance; the API under test points at a closed Redis port.
    courseId = await newCourse(ctx.baseUrl, 5);
    await ctx.restartApp({ ROLE: 'api', REDIS_PORT: '6399' });
  });
  afterAll(async () => {
    // ioredis leaves each refused command's 2 s commandTimeout timer running; let them run out.
    await sleep(2100);
  });

  it('answers 503 with Retry-After and leaves nothing half-written', async () => {
    const refused = await http(ctx.baseUrl, 'POST', '/enroll', {
      student_id: 's-1',
      course_id: courseId,
      idempotency_key: 'during-outage',
    });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'the queue (Redis) is unavailable; retry later',
    });
    const lookup = await http(ctx.baseUrl, 'GET', '/enrollments/during-outage');
    expect(lookup.status).toBe(503);
    expect(lookup.headers.get('retry-after')).toBe('2');
    const db = await connect(ctx.world.database.url);
    try {
      const { rows } = await db.query('SELECT count(*)::int AS n FROM decisions');
      expect(rows[0].n).toBe(0);
    } finally {
      await db.end();
    }
  });
});
