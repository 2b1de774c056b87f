import { setTimeout as sleep } from 'node:timers/promises';
import { jest } from '@jest/globals';
import { connect } from './support/db-client.js';
import { withAdminClient } from './support/database.js';
import { asAdmin, asClient, eventually, http, newCourse, newRequest, useWorld } from './support/test-app.js';

/** Parses Prometheus text format into { 'name{labels}': value }. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!match) throw new Error(`not Prometheus text format: ${line}`);
    samples.set(match[1], Number(match[2]));
  }
  return samples;
}

async function scrape(baseUrl: string): Promise<Map<string, number>> {
  const response = await fetch(`${baseUrl}/metrics`, { headers: asClient });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return parseMetrics(await response.text());
}

describe('probes, metrics and docs', () => {
  const ctx = useWorld();

  it('answers /health with ok and /ready with both dependencies ok', async () => {
    const health = await http(ctx.baseUrl, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    const ready = await http(ctx.baseUrl, 'GET', '/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: 'ready',
      redis: 'ok',
      database: 'ok',
      details: { database: { status: 'up' }, redis: { status: 'up' } },
    });
  });

  it('reports the database down on /ready while it refuses connections, and recovers', async () => {
    const name = ctx.world.database.name;
    try {
      await withAdminClient(async (client) => {
        await client.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
          name,
        ]);
      });
      const ready = await eventually(
        async () => {
          const answer = await http(ctx.baseUrl, 'GET', '/ready');
          return answer.status === 503 ? answer : undefined;
        },
        30_000,
        '/ready to fail',
      );
      expect(ready.body).toMatchObject({ status: 'not_ready', database: 'down', redis: 'ok' });
      expect(ready.body.details.database).toMatchObject({
        status: 'down',
        message: `database unavailable at 127.0.0.1:5432/${name}`,
      });
      expect((await http(ctx.baseUrl, 'GET', '/health')).status).toBe(200);
      // Every route that needs the database says so with a 503 the client may retry, never a 500.
      for (const [method, path, body] of [
        ['GET', '/courses', undefined],
        ['GET', '/courses/1', undefined],
        ['POST', '/courses', { code: 'DOWN1', title: 'During an outage', capacity: 1 }],
        ['GET', '/enrollments/no-such-key', undefined],
        [
          'POST',
          '/enroll',
          { student_id: 's-down', course_id: 987_654, idempotency_key: 'during-db-outage' },
        ],
      ] as const) {
        const answer = await http(ctx.baseUrl, method, path, body, asAdmin);
        expect({ route: `${method} ${path}`, status: answer.status, body: answer.body }).toEqual({
          route: `${method} ${path}`,
          status: 503,
          body: {
            statusCode: 503,
            error: 'Service Unavailable',
            message: 'the database (PostgreSQL) is unavailable; retry later',
          },
        });
        expect(answer.headers.get('retry-after')).toBe('2');
      }
    } finally {
      await withAdminClient((client) => client.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`));
    }
    await eventually(async () =>
      (await http(ctx.baseUrl, 'GET', '/ready')).status === 200 ? true : undefined,
    );
  });

  it('counts requests and decisions, and moves the per-course gauges', async () => {
    const courseId = await newCourse(ctx.baseUrl, 2);
    const code = (await http(ctx.baseUrl, 'GET', `/courses/${courseId}`)).body.code as string;
    const before = await scrape(ctx.baseUrl);
    const counter = (samples: Map<string, number>, status: string) =>
      samples.get(`enrollment_requests_total{status="${status}"}`) ?? 0;

    const requests = [1, 2, 3].map(() => newRequest(courseId));
    for (const request of requests) {
      expect((await http(ctx.baseUrl, 'POST', '/enroll', request)).status).toBe(202);
    }
    expect((await http(ctx.baseUrl, 'POST', '/enroll', requests[0])).status).toBe(200);
    expect(
      (
        await http(ctx.baseUrl, 'POST', '/enroll', {
          student_id: 'bad id',
          course_id: courseId,
          idempotency_key: 'x',
        })
      ).status,
    ).toBe(400);

    const after = await eventually(
      async () => {
        const samples = await scrape(ctx.baseUrl);
        return samples.get(`courseflow_seats_taken{course="${code}"}`) === 2 &&
          counter(samples, 'waitlisted') - counter(before, 'waitlisted') === 1
          ? samples
          : undefined;
      },
      30_000,
      'the gauges to move',
    );
    expect(counter(after, 'queued') - counter(before, 'queued')).toBe(3);
    expect(counter(after, 'replayed') - counter(before, 'replayed')).toBe(1);
    expect(counter(after, 'rejected_invalid') - counter(before, 'rejected_invalid')).toBe(1);
    expect(counter(after, 'enrolled') - counter(before, 'enrolled')).toBe(2);
    expect(after.get(`courseflow_capacity{course="${code}"}`)).toBe(2);
    expect(after.get(`courseflow_queue_depth{course="${code}"}`)).toBe(0);
    expect(
      after.get('enrollment_latency_seconds_count')! - (before.get('enrollment_latency_seconds_count') ?? 0),
    ).toBe(3);
    expect(after.has('enrollment_latency_seconds_bucket{le="0.001"}')).toBe(true);
    expect(after.has('enrollment_latency_seconds_bucket{le="30"}')).toBe(true);
    expect(after.has('process_resident_memory_bytes')).toBe(true);

    const json = await http(ctx.baseUrl, 'GET', '/metrics/json');
    expect(json.status).toBe(200);
    const seats = (
      json.body as Array<{ name: string; values: Array<{ labels: Record<string, string>; value: number }> }>
    ).find((metric) => metric.name === 'courseflow_seats_taken');
    expect(seats?.values).toContainEqual({ labels: { course: code }, value: 2 });
  });

  it('shows queue depth for requests accepted and not yet decided', async () => {
    const courseId = await newCourse(ctx.baseUrl, 1);
    const code = (await http(ctx.baseUrl, 'GET', `/courses/${courseId}`)).body.code as string;
    // Hold the course row so the worker cannot decide while the gauge is read.
    const blocker = await connect(ctx.world.database.url);
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM courses WHERE id = $1 FOR UPDATE', [courseId]);
      for (let n = 0; n < 3; n += 1) {
        expect((await http(ctx.baseUrl, 'POST', '/enroll', newRequest(courseId))).status).toBe(202);
      }
      // The gauges are read from the stores at most once a second: poll until the scrape shows all three.
      const depth = () =>
        scrape(ctx.baseUrl).then((samples) => samples.get(`courseflow_queue_depth{course="${code}"}`));
      await eventually(async () => ((await depth()) === 3 ? true : undefined), 30_000, 'a queue depth of 3');
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    await eventually(
      async () =>
        (await scrape(ctx.baseUrl)).get(`courseflow_queue_depth{course="${code}"}`) === 0 ? true : undefined,
      30_000,
      'the queue depth back to 0',
    );
  });

  it('documents every route the application serves in the OpenAPI document', async () => {
    const doc = await http(ctx.baseUrl, 'GET', '/docs-json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    const documented = new Set(
      Object.entries(doc.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    );
    const router = (
      ctx.app.app.getHttpAdapter().getInstance() as { router: { stack: Array<{ route?: any }> } }
    ).router;
    const served = router.stack
      // Catch-all layers (Express's 404 fallback, `/*splat`) are not API routes.
      .filter((layer) => layer.route && !String(layer.route.path).includes('*'))
      .flatMap((layer) =>
        Object.keys(layer.route.methods).map(
          (method) => `${method.toUpperCase()} ${String(layer.route.path).replace(/:(\w+)/g, '{$1}')}`,
        ),
      )
      .filter((route) => !route.includes('/docs'));
    expect(served.length).toBeGreaterThanOrEqual(9);
    for (const route of served) expect(documented).toContain(route);

    const responses = (path: string, method: string) =>
      Object.keys(doc.body.paths[path][method].responses).sort();
    expect(responses('/enroll', 'post')).toEqual([
      '200',
      '202',
      '400',
      '401',
      '404',
      '409',
      '413',
      '415',
      '422',
      '429',
      '503',
    ]);
    expect(responses('/courses', 'post')).toEqual(['201', '400', '401', '409', '413', '415', '503']);
    expect(responses('/courses/{id}', 'patch')).toEqual([
      '200',
      '400',
      '401',
      '404',
      '409',
      '413',
      '415',
      '503',
    ]);
    expect(responses('/enrollments/{idempotency_key}', 'delete')).toEqual([
      '200',
      '401',
      '404',
      '409',
      '429',
      '503',
    ]);
    expect(responses('/courses/{id}/events', 'get')).toEqual(['200', '400', '401', '404', '503']);
    expect(responses('/enrollments/{idempotency_key}/accept', 'post')).toEqual([
      '200',
      '401',
      '404',
      '409',
      '429',
      '503',
    ]);
    expect(doc.body.components.schemas.RequestStatus.enum).toEqual([
      'queued',
      'enrolled',
      'waitlisted',
      'offered',
      'rejected',
      'cancelled',
      'dropped',
    ]);
    expect(doc.body.paths['/courses'].post.security).toEqual([{ admin: [] }]);
    expect(doc.body.paths['/enroll'].post.security).toEqual([{ client: [] }, { admin: [] }]);
    expect(doc.body.paths['/health'].get.security).toEqual([]);
    const enrollSchema = doc.body.components.schemas.EnrollRequestDto;
    expect(enrollSchema.properties.priority).toMatchObject({ type: 'integer', minimum: 0, maximum: 100 });
    expect(enrollSchema.required).toEqual(expect.arrayContaining(['student_id', 'course_id']));
    expect((await fetch(`${ctx.baseUrl}/docs`)).status).toBe(200);
  });
});

describe('/ready while Redis is unreachable', () => {
  beforeAll(() => {
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  const ctx = useWorld({ appEnv: { ROLE: 'api', REDIS_PORT: '6399' } });
  afterAll(async () => {
    await sleep(2100); // ioredis leaves each refused command's 2 s timeout timer running
  });

  it('answers 503 with redis down while /health stays 200', async () => {
    const ready = await http(ctx.baseUrl, 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not_ready', redis: 'down', database: 'ok' });
    expect(ready.body.details.redis).toMatchObject({
      status: 'down',
      message: 'redis unavailable at 127.0.0.1:6399',
    });
    expect((await http(ctx.baseUrl, 'GET', '/health')).status).toBe(200);
  });

  it("says which dependency is away in the 503s and /ready, never in the driver's words", async () => {
    const driverWords = /ECONNREFUSED|Stream isn't writeable|ioredis|Connection is closed|\bat \//;
    const ready = await http(ctx.baseUrl, 'GET', '/ready');
    expect(JSON.stringify(ready.body)).not.toMatch(driverWords);
    const course = await http(
      ctx.baseUrl,
      'POST',
      '/courses',
      { code: 'RDOWN1', title: 'Redis away', capacity: 1 },
      asAdmin,
    );
    const refused = await http(ctx.baseUrl, 'POST', '/enroll', {
      student_id: 's-redis-down',
      course_id: course.body.id,
      idempotency_key: 'during-redis-outage',
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(refused.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'the queue (Redis) is unavailable; retry later',
    });
  });
});
