import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import {
  ADMIN_TOKEN,
  CLIENT_TOKEN,
  createWorld,
  newCourse,
  startApp,
  type TestApp,
  type TestWorld,
} from './support/test-app.js';

const run = promisify(execFile);

/**
 * A client generated from /docs-json (openapi-typescript, called through openapi-fetch) must typecheck
 * under --strict without a single cast, and then do the lifecycle against the running service: the
 * document is what a portal team would build on.
 */
const CLIENT = `
import createClient from 'openapi-fetch';
import type { paths } from './schema.js';

const client = createClient<paths>({
  baseUrl: process.env.BASE_URL,
  headers: { authorization: 'Bearer ' + process.env.CLIENT_TOKEN },
});
const courseId = Number(process.env.COURSE_ID);
const admin = { Authorization: 'Bearer ' + process.env.ADMIN_TOKEN };

async function main(): Promise<void> {
  const accepted = await client.POST('/enroll', {
    body: { student_id: 's-generated', course_id: courseId, priority: 3, idempotency_key: 'generated-1' },
  });
  if (!accepted.data) throw new Error('enroll failed: ' + accepted.response.status);
  let status: 'queued' | 'enrolled' | 'waitlisted' | 'rejected' | 'cancelled' | 'dropped' = accepted.data.status;
  for (let tries = 0; status === 'queued' && tries < 400; tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const found = await client.GET('/enrollments/{idempotencyKey}', {
      params: { path: { idempotencyKey: 'generated-1' } },
    });
    if (found.data) status = found.data.status;
  }
  const dropped = await client.DELETE('/enrollments/{idempotencyKey}', {
    params: { path: { idempotencyKey: 'generated-1' } },
  });
  const droppedAt: string | null | undefined = dropped.data?.dropped_at;
  const events = await client.GET('/enrollments/{idempotencyKey}/events', {
    params: { path: { idempotencyKey: 'generated-1' } },
  });
  const types: string[] = (events.data?.events ?? []).map((event) => event.type);
  const mine = await client.GET('/students/{studentId}/requests', {
    params: { path: { studentId: 's-generated' } },
  });
  const changed = await client.PATCH('/courses/{id}', {
    params: { path: { id: courseId } },
    headers: admin,
    body: { capacity: 2, closes_at: null },
  });
  const page = await client.GET('/courses/{id}/events', {
    params: { path: { id: courseId }, query: { after: '0', limit: 10 } },
    headers: admin,
  });
  const next: string | undefined = page.data?.next;
  console.log(
    JSON.stringify({
      decided: status,
      dropped: dropped.data?.status,
      droppedAt: typeof droppedAt,
      types,
      listed: mine.data?.map((request) => request.status),
      capacity: changed.data?.capacity,
      pageTypes: page.data?.events.map((event) => event.type),
      next,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
`;

describe('the OpenAPI document, through a generated client', () => {
  let world: TestWorld;
  let api: TestApp;
  let dir: string;

  beforeAll(async () => {
    world = await createWorld();
    api = await startApp(world);
    // Inside the project, so the client resolves openapi-fetch from its node_modules.
    dir = mkdtempSync(path.join(process.cwd(), '.openapi-client-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await api.close();
    await world.destroy();
  });

  it('typechecks a strict client without casts and runs the lifecycle with it', async () => {
    const document = (await (await fetch(`${api.baseUrl}/docs-json`)).json()) as OpenAPI3;
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

    const courseId = await newCourse(api.baseUrl, 1);
    const { stdout } = await run('npx', ['tsx', path.join(dir, 'client.ts')], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        BASE_URL: api.baseUrl,
        CLIENT_TOKEN,
        COURSE_ID: String(courseId),
        ADMIN_TOKEN,
      },
    });
    expect(JSON.parse(stdout)).toEqual({
      decided: 'enrolled',
      dropped: 'dropped',
      droppedAt: 'string',
      types: ['enrolled', 'dropped'],
      listed: ['dropped'],
      capacity: 2,
      pageTypes: ['enrolled', 'dropped', 'capacity_changed'],
      next: '3',
    });
  }, 120_000);
});
