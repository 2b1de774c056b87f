import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import { ADMIN_TOKEN, CLIENT_TOKEN, useWorld } from './support/test-app.js';

const run = promisify(execFile);

/**
 * A client generated from /docs-json (openapi-typescript with its default options, called through
 * openapi-fetch) must typecheck under --strict without a single cast, and then call every operation of the
 * document against the running service: the document is what a portal team would build on. A middleware
 * notes each call's method and path template, so the test can tell that none was left out.
 */
const CLIENT = `
import createClient from 'openapi-fetch';
import type { paths } from './schema.js';

const called: string[] = [];
const client = createClient<paths>({
  baseUrl: process.env.BASE_URL,
  headers: { authorization: 'Bearer ' + process.env.CLIENT_TOKEN },
});
client.use({
  onRequest({ request, schemaPath }) {
    called.push(request.method + ' ' + schemaPath);
  },
});
const admin = { Authorization: 'Bearer ' + process.env.ADMIN_TOKEN };

async function main(): Promise<void> {
  const health = await client.GET('/health');
  const ready = await client.GET('/ready');
  const readiness: string | undefined = ready.data?.database;

  const created = await client.POST('/courses', {
    headers: admin,
    body: { code: 'GEN' + process.env.SUFFIX, title: 'Generated', capacity: 1 },
  });
  if (!created.data) throw new Error('course creation failed: ' + created.error?.message);
  const courseId: number = created.data.id;
  const location: string | null = created.response.headers.get('location');
  const listed = await client.GET('/courses');
  const one = await client.GET('/courses/{id}', { params: { path: { id: courseId } } });
  const draw = await client.GET('/courses/{id}/draw', { params: { path: { id: courseId } } });
  const drawState: 'none' | 'scheduled' | 'open' | 'drawn' | undefined = draw.data?.state;
  const missing = await client.GET('/courses/{id}', { params: { path: { id: 2147483647 } } });
  const missingMessage: string | undefined = missing.error?.message;

  // priority is optional: a generated request type that demanded it would not compile here.
  const accepted = await client.POST('/enroll', {
    body: { student_id: 's-generated', course_id: courseId, idempotency_key: 'generated-1' },
  });
  if (!accepted.data) throw new Error('enroll failed: ' + accepted.response.status);
  const replay = await client.POST('/enroll', {
    params: { header: { 'Idempotency-Key': 'generated-1' } },
    body: { student_id: 's-generated', course_id: courseId, priority: 0 },
  });
  let status: 'queued' | 'enrolled' | 'waitlisted' | 'offered' | 'rejected' | 'cancelled' | 'dropped' =
    accepted.data.status;
  const reason:
    | 'already_enrolled'
    | 'already_waitlisted'
    | 'course_not_found'
    | 'dead_letter'
    | 'time_conflict'
    | 'max_credits'
    | 'max_waitlisted'
    | 'swap_target_gone'
    | 'swapped'
    | 'declined'
    | 'offer_expired'
    | null = accepted.data.reason;
  const offerExpiresAt: string | null = accepted.data.offer_expires_at;
  const swapFor: string | null = accepted.data.swap_for;
  const blocked: 'time_conflict' | 'max_credits' | null = accepted.data.blocked_reason;
  for (let tries = 0; status === 'queued' && tries < 400; tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const found = await client.GET('/enrollments/{idempotency_key}', {
      params: { path: { idempotency_key: 'generated-1' } },
    });
    if (found.data) status = found.data.status;
  }
  // Enrolled already: an accept answers the same state.
  const acceptedAgain = await client.POST('/enrollments/{idempotency_key}/accept', {
    params: { path: { idempotency_key: 'generated-1' } },
  });
  const dropped = await client.DELETE('/enrollments/{idempotency_key}', {
    params: { path: { idempotency_key: 'generated-1' } },
  });
  const droppedAt: string | null | undefined = dropped.data?.dropped_at;
  const events = await client.GET('/enrollments/{idempotency_key}/events', {
    params: { path: { idempotency_key: 'generated-1' } },
  });
  const types: string[] = (events.data?.events ?? []).map((event) => event.type);
  const mine = await client.GET('/students/{student_id}/requests', {
    params: { path: { student_id: 's-generated' } },
  });
  const changed = await client.PATCH('/courses/{id}', {
    params: { path: { id: courseId } },
    headers: admin,
    body: { capacity: 2, closes_at: null, waitlist_mode: 'offer', offer_ttl_s: 3600 },
  });
  const page = await client.GET('/courses/{id}/events', {
    params: { path: { id: courseId }, query: { after: '0', limit: 10 } },
    headers: admin,
  });
  const next: string | undefined = page.data?.next;

  const deadLetters = await client.GET('/admin/dead-letters', { headers: admin });
  const retried = await client.POST('/admin/dead-letters/{id}/retry', {
    params: { path: { id: '999999' } },
    headers: admin,
  });
  const rejected = await client.POST('/admin/dead-letters/{id}/reject', {
    params: { path: { id: '999999' } },
    headers: admin,
  });
  const limits = await client.PUT('/admin/students/{student_id}/limits', {
    params: { path: { student_id: 's-generated' } },
    headers: admin,
    body: { max_credits: 12, max_waitlisted: null },
  });
  const override = await client.POST('/admin/overrides', {
    headers: admin,
    body: { student_id: 's-generated', course_id: courseId, kinds: ['time_conflict'], expires_at: null },
  });
  const overrideId: string = override.data?.id ?? 'none';
  const schedule = await client.GET('/students/{student_id}/schedule', {
    params: { path: { student_id: 's-generated' } },
  });
  const removed = await client.DELETE('/admin/overrides/{id}', {
    params: { path: { id: overrideId } },
    headers: admin,
  });
  const appointment = await client.PUT('/admin/appointments/{student_id}', {
    params: { path: { student_id: 's-generated-apt' } },
    headers: admin,
    body: { opens_at: '2026-01-01T00:00:00Z', closes_at: null },
  });
  const appointments = await client.POST('/admin/appointments', {
    headers: admin,
    body: [{ student_id: 's-generated-apt2', opens_at: '2026-01-01T00:00:00Z', closes_at: '2099-01-01T00:00:00Z' }],
  });
  const appointmentRead = await client.GET('/students/{student_id}/appointment', {
    params: { path: { student_id: 's-generated-apt' } },
  });
  const appointmentClosesAt: string | null | undefined = appointmentRead.data?.closes_at;
  const appointmentLifted = await client.DELETE('/admin/appointments/{student_id}', {
    params: { path: { student_id: 's-generated-apt' } },
    headers: admin,
  });
  // A receiver that is never there (port 9 on this machine): the event stays failing or pending.
  const webhook = await client.POST('/admin/webhooks', {
    headers: admin,
    body: { url: 'http://127.0.0.1:9/hook', secret: 'generated-secret-0001', events: ['*'], course_id: courseId },
  });
  const webhookId: string = webhook.data?.id ?? 'none';
  const webhooks = await client.GET('/admin/webhooks', { headers: admin });
  const deliveries = await client.GET('/admin/webhooks/{id}/deliveries', {
    params: { path: { id: webhookId }, query: { state: 'pending', limit: 10 } },
    headers: admin,
  });
  const webhookRemoved = await client.DELETE('/admin/webhooks/{id}', {
    params: { path: { id: webhookId } },
    headers: admin,
  });
  const metrics = await client.GET('/metrics', { parseAs: 'text' });
  const metricsJson = await client.GET('/metrics/json');

  console.log(
    JSON.stringify({
      called,
      health: health.data?.status,
      ready: ready.data?.status,
      readiness,
      location: location === '/courses/' + courseId,
      listed: listed.data?.some((course) => course.id === courseId),
      code: one.data?.code,
      drawState,
      missing: [missing.response.status, missingMessage],
      accepted: [accepted.response.status, accepted.data.priority, reason, swapFor, offerExpiresAt],
      acceptedAgain: [acceptedAgain.response.status, acceptedAgain.data?.status],
      replay: [replay.response.status, replay.response.headers.get('location')],
      decided: status,
      dropped: dropped.data?.status,
      droppedAt: typeof droppedAt,
      types,
      listedRequests: mine.data?.map((request) => request.status),
      capacity: changed.data?.capacity,
      pageTypes: page.data?.events.map((event) => event.type),
      next,
      deadLetters: deadLetters.data?.length,
      retried: [retried.response.status, retried.error?.statusCode],
      rejected: [rejected.response.status, rejected.error?.error],
      blocked,
      limits: limits.data?.max_credits,
      overrideKinds: override.data?.kinds,
      scheduleOverrides: schedule.data?.overrides.length,
      removed: removed.response.status,
      appointment: [appointment.response.status, appointment.data?.opens_at],
      upserted: appointments.data?.upserted,
      appointmentClosesAt,
      appointmentLifted: appointmentLifted.response.status,
      webhook: [webhook.response.status, webhook.data?.course_id === courseId, webhook.data?.events],
      webhookListed: webhooks.data?.some((one) => one.id === webhookId),
      deliveries: Array.isArray(deliveries.data),
      webhookRemoved: webhookRemoved.response.status,
      metrics: typeof metrics.data === 'string' && metrics.data.includes('enrollment_requests_total'),
      metricsJson: metricsJson.data?.some((metric) => metric.name === 'courseflow_queue_depth'),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
`;

describe('the OpenAPI document, through a generated client', () => {
  const ctx = useWorld();
  let dir: string;

  beforeAll(async () => {
    // Inside the project, so the client resolves openapi-fetch from its node_modules.
    dir = mkdtempSync(path.join(process.cwd(), '.openapi-client-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('typechecks a strict client without casts and calls every operation with it', async () => {
    const document = (await (await fetch(`${ctx.baseUrl}/docs-json`)).json()) as OpenAPI3;
    writeFileSync(path.join(dir, 'schema.ts'), astToString(await openapiTS(document)));
    writeFileSync(path.join(dir, 'client.ts'), CLIENT);
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    await expect(
      run(
        'npx',
        [
          'tsc',
          '--noEmit',
          '--strict',
          '--target',
          'es2022',
          '--module',
          'nodenext',
          '--moduleResolution',
          'nodenext',
          '--skipLibCheck',
          path.join(dir, 'client.ts'),
        ],
        { env: { ...process.env, NODE_OPTIONS: '' } },
      ),
    ).resolves.toBeDefined();

    const { stdout } = await run('npx', ['tsx', path.join(dir, 'client.ts')], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        BASE_URL: ctx.baseUrl,
        CLIENT_TOKEN,
        SUFFIX: String(process.pid),
        ADMIN_TOKEN,
      },
    });
    const { called, ...seen } = JSON.parse(stdout) as { called: string[] } & Record<string, unknown>;
    const operationIdOf = new Map(
      Object.entries(document.paths ?? {}).flatMap(([template, item]) =>
        Object.entries(item as Record<string, { operationId?: string }>).map(([method, operation]) => [
          `${method.toUpperCase()} ${template}`,
          operation.operationId,
        ]),
      ),
    );
    expect(new Set(called.map((call) => operationIdOf.get(call)))).toEqual(new Set(operationIdOf.values()));
    expect(seen).toEqual({
      health: 'ok',
      ready: 'ready',
      readiness: 'ok',
      location: true,
      listed: true,
      code: `GEN${process.pid}`,
      drawState: 'none',
      missing: [404, 'course_id 2147483647 does not exist'],
      accepted: [202, 0, null, null, null],
      acceptedAgain: [200, 'enrolled'],
      replay: [200, '/enrollments/generated-1'],
      decided: 'enrolled',
      dropped: 'dropped',
      droppedAt: 'string',
      types: ['enrolled', 'dropped'],
      listedRequests: ['dropped'],
      capacity: 2,
      pageTypes: ['enrolled', 'dropped', 'capacity_changed'],
      next: '3',
      deadLetters: 0,
      retried: [404, 404],
      rejected: [404, 'Not Found'],
      blocked: null,
      limits: 12,
      overrideKinds: ['time_conflict'],
      scheduleOverrides: 1,
      removed: 204,
      appointment: [200, '2026-01-01T00:00:00.000Z'],
      upserted: 1,
      appointmentClosesAt: null,
      appointmentLifted: 204,
      webhook: [201, true, ['*']],
      webhookListed: true,
      deliveries: true,
      webhookRemoved: 204,
      metrics: true,
      metricsJson: true,
    });
  }, 120_000);
});
