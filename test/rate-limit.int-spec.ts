import { setTimeout as sleep } from 'node:timers/promises';
import { type PrivateRedis, startPrivateRedis } from './support/private-redis.js';
import {
  asClient,
  createWorld,
  metricValue,
  http,
  newCourse,
  newRequest,
  startApp,
  type TestApp,
  type TestWorld,
  useWorld,
  waitForDecision,
} from './support/test-app.js';

/** docs/guarantees.md §19: calls per student per window, POST /enroll and DELETE together, over processes. */
describe('the per-student rate limit', () => {
  const ctx = useWorld({ env: { RATE_LIMIT_PER_STUDENT: '5' }, app: false });
  let first: TestApp;
  let second: TestApp;
  let courseId: number;

  beforeAll(async () => {
    first = await ctx.startApp();
    second = await ctx.startApp({ ROLE: 'api' });
    courseId = await newCourse(first.baseUrl, 100);
  });

  it('lets exactly the limit through when one student races both API processes, and answers the rest 429', async () => {
    const student = 'st-racer';
    const calls = Array.from({ length: 24 }, (_, index) =>
      http(index % 2 === 0 ? first.baseUrl : second.baseUrl, 'POST', '/enroll', {
        ...newRequest(courseId),
        student_id: student,
      }),
    );
    const answers = await Promise.all(calls);
    expect(answers.filter(({ status }) => status === 202)).toHaveLength(5);
    const refused = answers.filter(({ status }) => status === 429);
    expect(refused).toHaveLength(19);
    for (const answer of refused) {
      const retryAfter = Number(answer.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(answer.body).toEqual({
        statusCode: 429,
        error: 'Too Many Requests',
        message: expect.stringMatching(
          /^student st-racer sent more than 5 enrollment calls in 60 s; retry after \d+ s$/,
        ),
      });
    }
  });

  it('counts each student of a batch apart: many students at once, counted together in one Redis call', async () => {
    // 12 students on both processes at once: their counters share script calls (8 buckets, group commit),
    // and each student still gets exactly the limit, however its calls were batched with the others'.
    const students = Array.from({ length: 12 }, (_, index) => `st-batch-${index}`);
    const calls = students.flatMap((student, index) =>
      Array.from({ length: 5 + (index % 3) * 2 }, (_, call) =>
        http(call % 2 === 0 ? first.baseUrl : second.baseUrl, 'POST', '/enroll', {
          ...newRequest(courseId),
          student_id: student,
        }).then(({ status }) => [student, status] as const),
      ),
    );
    const answers = await Promise.all(calls);
    for (const [index, student] of students.entries()) {
      const mine = answers.filter(([who]) => who === student).map(([, status]) => status);
      expect(mine.filter((status) => status === 202)).toHaveLength(5);
      expect(mine.filter((status) => status === 429)).toHaveLength((index % 3) * 2);
    }
  });

  it('stores nothing for a refused call, and leaves other students alone', async () => {
    const student = 'st-busy';
    for (let call = 0; call < 5; call += 1) {
      const accepted = await http(first.baseUrl, 'POST', '/enroll', {
        ...newRequest(courseId),
        student_id: student,
      });
      expect(accepted.status).toBe(202);
    }
    const refused = newRequest(courseId, { student_id: student });
    expect((await http(second.baseUrl, 'POST', '/enroll', refused)).status).toBe(429);
    expect((await http(first.baseUrl, 'GET', `/enrollments/${refused.idempotency_key}`)).status).toBe(404);
    const listed = await http(first.baseUrl, 'GET', `/students/${student}/requests`);
    expect(listed.body).toHaveLength(5);
    expect((await http(second.baseUrl, 'POST', '/enroll', newRequest(courseId))).status).toBe(202);
    const metrics = await fetch(`${second.baseUrl}/metrics`, { headers: asClient }).then((answer) =>
      answer.text(),
    );
    expect(metricValue(metrics, 'enrollment_requests_total{status="rate_limited"}')).toBeGreaterThanOrEqual(
      1,
    );
  });

  it('counts drops with enrollments, against the student who sent the request', async () => {
    const student = 'st-dropper';
    const requests = Array.from({ length: 4 }, () => newRequest(courseId, { student_id: student }));
    for (const request of requests)
      expect((await http(first.baseUrl, 'POST', '/enroll', request)).status).toBe(202);
    await waitForDecision(first.baseUrl, requests[0].idempotency_key);
    const before = await waitForDecision(first.baseUrl, requests[1].idempotency_key);
    const dropped = await http(second.baseUrl, 'DELETE', `/enrollments/${requests[0].idempotency_key}`);
    expect(dropped.status).toBe(200);
    const refused = await http(first.baseUrl, 'DELETE', `/enrollments/${requests[1].idempotency_key}`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    // Refused before it acted: the request still holds what it had.
    expect((await waitForDecision(first.baseUrl, requests[1].idempotency_key)).body).toEqual(before.body);
  });

  it('does not count what it cannot attribute: a malformed body gets its 400, an unknown key its 404', async () => {
    for (let call = 0; call < 8; call += 1) {
      expect(
        (await http(first.baseUrl, 'POST', '/enroll', { student_id: 7, course_id: courseId })).status,
      ).toBe(400);
      expect((await http(first.baseUrl, 'DELETE', `/enrollments/never-sent-${call}`)).status).toBe(404);
    }
    // A key no request can have is never looked up (PostgreSQL would refuse the NUL byte): the pipe's 404.
    expect((await http(first.baseUrl, 'DELETE', '/enrollments/a%00b')).status).toBe(404);
  });
});

describe('the rate limit window', () => {
  const ctx = useWorld({ env: { RATE_LIMIT_PER_STUDENT: '2', RATE_LIMIT_WINDOW_MS: '1000' } });

  it('lets the student in again once the window has passed', async () => {
    const courseId = await newCourse(ctx.baseUrl, 10);
    const student = 'st-patient';
    const send = () => http(ctx.baseUrl, 'POST', '/enroll', newRequest(courseId, { student_id: student }));
    expect((await send()).status).toBe(202);
    expect((await send()).status).toBe(202);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    await sleep(1100);
    expect((await send()).status).toBe(202);
  });

  it('is off with RATE_LIMIT_PER_STUDENT=0', async () => {
    const unlimited = await startApp(ctx.world, { ROLE: 'api', RATE_LIMIT_PER_STUDENT: '0' });
    try {
      const courseId = await newCourse(unlimited.baseUrl, 10);
      for (let call = 0; call < 6; call += 1) {
        const sent = await http(
          unlimited.baseUrl,
          'POST',
          '/enroll',
          newRequest(courseId, { student_id: 'st-free' }),
        );
        expect(sent.status).toBe(202);
      }
    } finally {
      await unlimited.close();
    }
  });
});

describe('the rate limit while Redis is unreachable', () => {
  let redis: PrivateRedis;
  let world: TestWorld;
  let app: TestApp;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    world = await createWorld({
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(redis.port),
      RATE_LIMIT_PER_STUDENT: '1',
    });
    app = await startApp(world);
  });

  afterAll(async () => {
    await app?.close();
    redis?.process.kill('SIGKILL');
    await world?.database.drop();
  });

  it('is not enforced, so a drop (PostgreSQL only) still succeeds', async () => {
    const courseId = await newCourse(app.baseUrl, 10);
    const request = newRequest(courseId);
    expect((await http(app.baseUrl, 'POST', '/enroll', request)).status).toBe(202);
    expect((await waitForDecision(app.baseUrl, request.idempotency_key)).body.status).toBe('enrolled');
    redis.process.kill('SIGKILL');
    await sleep(200);
    // Over the limit of 1 already, but the counter is out of reach: the drop is not refused for it.
    const dropped = await http(app.baseUrl, 'DELETE', `/enrollments/${request.idempotency_key}`);
    expect(dropped.status).toBe(200);
    expect(dropped.body.status).toBe('dropped');
  });
});
