import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../scripts/kit.mjs';
import { connect, courseTruth } from './support/db-client.js';
import { type ChildService, startChildService } from './support/child-service.js';
import {
  ADMIN_TOKEN,
  asAdmin,
  asClient,
  CLIENT_TOKEN,
  eventually,
  http,
  newCourse,
  useWorld,
} from './support/test-app.js';

/** SIGTERM in the middle of a stampede, on the built service running as a real process. */
describe('graceful shutdown', () => {
  let running: ChildService | undefined;
  // Before useWorld(): the process stops before the world goes.
  afterAll(() => {
    running?.process.kill('SIGKILL');
  });
  const ctx = useWorld({ app: false });

  it('exits 0 on SIGTERM mid-stampede, and every 202 is decided exactly once after a restart', async () => {
    const env = { ...ctx.world.env, ROLE: 'all', LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '20000' };
    const first = await startChildService(env);
    running = first;
    const courseId = await newCourse(first.baseUrl, 40);

    const keys = Array.from({ length: 400 }, (_, i) => `sigterm-${i}`);
    const answers = keys.map((key, i) =>
      http(first.baseUrl, 'POST', '/enroll', {
        student_id: `sig-${i}`,
        course_id: courseId,
        idempotency_key: key,
      })
        .then((response) => response.status)
        .catch(() => 'refused' as const),
    );
    // Signal once the first answers are back, while the rest are in flight or still connecting.
    await Promise.race(answers.slice(0, 20));
    const signalledAt = Date.now();
    first.process.kill('SIGTERM');
    const statuses = await Promise.all(answers);
    const exit = await first.exited;
    const shutdownMs = Date.now() - signalledAt;

    expect(exit).toEqual({ code: 0, signal: null });
    expect(shutdownMs).toBeLessThan(20_000);
    const accepted = keys.filter((_, i) => statuses[i] === 202);
    expect(accepted.length).toBeGreaterThan(0);
    // Every request got a 202 or never reached the closed server; none half-handled.
    expect(statuses.every((status) => status === 202 || status === 'refused')).toBe(true);

    const second = await startChildService(env);
    running = second;
    const db = await connect(ctx.world.database.url);
    try {
      const decided = await eventually(
        async () => {
          const { rows } = await db.query('SELECT idempotency_key FROM decisions WHERE course_id = $1', [
            courseId,
          ]);
          return rows.length >= accepted.length
            ? rows.map((row) => row.idempotency_key as string)
            : undefined;
        },
        30_000,
        'every accepted request to be decided',
      );
      expect(decided.sort()).toEqual([...accepted].sort());
      const truth = await courseTruth(db, courseId);
      expect(truth.seats_taken).toBe(Math.min(40, accepted.length));
      expect(truth.enrollments).toBe(truth.seats_taken);
      expect(truth.waitlist_entries).toBe(accepted.length - truth.seats_taken);
    } finally {
      await db.end();
    }

    const lines = [...first.lines, ...second.lines];
    console.log(
      `SIGTERM test: ${accepted.length} of 400 accepted before shutdown; exit 0 after ${shutdownMs} ms`,
    );
    second.process.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });

    // The structured logs: JSON lines, request ids on HTTP lines, one line per decided batch (the keys are
    // in the decisions table, and on debug lines), no secrets.
    const entries = lines.map((line) => JSON.parse(line) as Record<string, any>);
    const httpLines = entries.filter((entry) => entry.msg === 'request completed');
    expect(httpLines.length).toBeGreaterThan(0);
    for (const entry of httpLines) expect(entry.req_id).toEqual(expect.any(String));
    const batches = entries.filter((entry) => entry.msg === 'decided batch');
    expect(batches.reduce((sum, entry) => sum + entry.decisions, 0)).toBe(accepted.length);
    for (const entry of batches) {
      expect(entry.enrolled + entry.waitlisted + entry.rejected).toBe(entry.decisions);
    }
    expect(entries.filter((entry) => entry.msg === 'decided')).toEqual([]);
    expect(lines.join('\n')).not.toContain(ADMIN_TOKEN);
    expect(entries.some((entry) => entry.msg === 'shut down cleanly')).toBe(true);
  });

  it('stops at start with a message naming a malformed variable', async () => {
    await expect(startChildService({ ...ctx.world.env, REDIS_PORT: 'seventy' })).rejects.toThrow(
      /REDIS_PORT must be an integer/,
    );
  });

  it('gives up on an unreachable PostgreSQL with JSON lines at once and one line saying what to check', async () => {
    const port = await freePort();
    const url = `postgres://postgres:hunter2secret@127.0.0.1:${port}/courseflow`;
    const failure = await startChildService({
      ...ctx.world.env,
      DATABASE_URL: url,
      DATABASE_START_TIMEOUT_MS: '2500',
      LOG_LEVEL: 'info',
    }).catch((error: Error) => error.message);
    const lines = String(failure).split('\n').slice(1).filter(Boolean);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, any>);
    const retries = entries.filter(
      (entry) => entry.msg === `database unavailable at 127.0.0.1:${port}/courseflow, retrying`,
    );
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(entries.at(-1)).toMatchObject({
      level: 60,
      msg: expect.stringContaining(
        `cannot connect to PostgreSQL at postgres://postgres:***@127.0.0.1:${port}/courseflow`,
      ),
    });
    expect(entries.at(-1)!.msg).toContain('Check DATABASE_URL');
    expect(String(failure)).not.toContain('hunter2secret');
  });

  it('starts with Redis away: live, not ready, one log line for the outage, and a quick clean SIGTERM', async () => {
    const redisPort = await freePort();
    const service = await startChildService(
      { ...ctx.world.env, ROLE: 'all', REDIS_PORT: String(redisPort), LOG_LEVEL: 'info' },
      'live',
    );
    running = service;
    const ready = await http(service.baseUrl, 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not_ready', redis: 'down', database: 'ok' });
    expect(ready.body.details.redis.message).toBe(`redis unavailable at 127.0.0.1:${redisPort}`);
    const db = await connect(ctx.world.database.url);
    const { rows } = await db
      .query("INSERT INTO courses (code, title, capacity) VALUES ('AWAY1', 'Redis away', 3) RETURNING id")
      .finally(() => db.end());
    const refused = await http(service.baseUrl, 'POST', '/enroll', {
      student_id: 's-1',
      course_id: rows[0].id,
      idempotency_key: 'redis-away',
    });
    expect(refused.status).toBe(503);
    expect(refused.body.message).toBe('the queue (Redis) is unavailable; retry later');
    await sleep(3000); // a dozen reconnection attempts
    const signalledAt = Date.now();
    service.process.kill('SIGTERM');
    expect(await service.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(5000);

    // Nothing but JSON lines, and the outage said once, not once per retry.
    expect(service.stderr.join('')).toBe('');
    const entries = service.lines.map((line) => JSON.parse(line) as Record<string, any>);
    expect(entries.filter((entry) => String(entry.msg).startsWith('redis unavailable at'))).toHaveLength(1);
  });

  it('uses a request id the caller sends and returns it', async () => {
    const service = await startChildService({ ...ctx.world.env, ROLE: 'api', LOG_LEVEL: 'info' });
    running = service;
    const response = await fetch(`${service.baseUrl}/courses`, {
      headers: { 'x-request-id': 'trace-42', ...asClient },
    });
    expect(response.headers.get('x-request-id')).toBe('trace-42');
    await http(service.baseUrl, 'POST', '/courses', { code: 'LOG1', title: 'Logged', capacity: 1 }, asAdmin);
    service.process.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
    const entries = service.lines.map((line) => JSON.parse(line) as Record<string, any>);
    expect(entries).toContainEqual(
      expect.objectContaining({ req_id: 'trace-42', method: 'GET', url: '/courses', status_code: 200 }),
    );
    const created = entries.find((entry) => entry.method === 'POST');
    expect(created).toMatchObject({ req_id: expect.any(String), url: '/courses', status_code: 201 });
    // Tokens travel in every request; none is ever written to the log.
    for (const token of [ADMIN_TOKEN, CLIENT_TOKEN]) expect(service.lines.join('\n')).not.toContain(token);
    expect(service.lines.join('\n')).not.toContain(ADMIN_TOKEN);
  });
});
