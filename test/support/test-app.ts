import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { INestApplication } from '@nestjs/common';
import { Queue } from 'bullmq';
import { createApp } from '../../src/app.setup.js';
import { type AppConfig, parseConfig } from '../../src/config/app-config.js';
import {
  type AllocationJobData,
  partitionOf,
  partitionQueueName,
} from '../../src/queue/allocation-queue.contract.js';
import { deleteRedisKeys, type LiveEvent } from '../../scripts/kit.mjs';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ConformanceChecker, recordResponses, reportConformance } from './openapi-conformance.js';

/** One checker per served document (every app of a file serves the same one), fed by every test app. */
const checkers = new Map<string, ConformanceChecker>();
afterAll(() => reportConformance([...checkers.values()]));

export const ADMIN_TOKEN = 'test-admin-token';
/** The tests act as the student portal does in production: with a client token (CLIENT_TOKENS). */
export const CLIENT_TOKEN = 'test-client-token-0001';
export const asClient = { authorization: `Bearer ${CLIENT_TOKEN}` };
/** The operator's header (ADMIN_TOKEN), for the admin endpoints. */
export const asAdmin = { authorization: `Bearer ${ADMIN_TOKEN}` };
/** An HTTP Basic Authorization header, as a browser sends it after its login prompt. */
export const basicAuth = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

/** One isolated world per test file: its own database and its own Redis key prefix. */
export interface TestWorld {
  database: TestDatabase;
  queuePrefix: string;
  env: Record<string, string>;
  /** Drops the database and the world's Redis keys. */
  destroy(): Promise<void>;
}

export async function createWorld(env: Record<string, string> = {}): Promise<TestWorld> {
  const database = await createTestDatabase();
  const queuePrefix = `cftest-${randomBytes(4).toString('hex')}`;
  return {
    database,
    queuePrefix,
    env: {
      DATABASE_URL: database.url,
      QUEUE_PREFIX: queuePrefix,
      ADMIN_TOKEN,
      CLIENT_TOKENS: CLIENT_TOKEN,
      ALLOCATION_PARTITIONS: '4',
      RUN_MIGRATIONS: 'false',
      LOG_LEVEL: 'error',
      ...env,
    },
    async destroy() {
      await deleteRedisKeys(`${queuePrefix}:*`);
      await database.drop();
    },
  };
}

export interface TestApp {
  app: INestApplication;
  config: AppConfig;
  baseUrl: string;
  close(): Promise<void>;
}

/** Boots the real application module (role, pipes, filters as in production) on a random port. */
export async function startApp(world: TestWorld, env: Record<string, string> = {}): Promise<TestApp> {
  const config = parseConfig({ ...process.env, ...world.env, ...env });
  // Every response is checked against the served OpenAPI document (see openapi-conformance.ts).
  const conformance: { checker?: ConformanceChecker } = {};
  const app = await createApp(
    config,
    recordResponses(() => conformance.checker),
  );
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  const baseUrl = `http://127.0.0.1:${address.port}`;
  // An app that does not serve its document (DOCS_ACCESS=off) is not checked.
  const served = await fetch(`${baseUrl}/docs-json`, { headers: asAdmin });
  if (served.ok) {
    const document = await served.text();
    conformance.checker = checkers.get(document) ?? new ConformanceChecker(JSON.parse(document));
    checkers.set(document, conformance.checker);
  }
  return { app, config, baseUrl, close: () => app.close() };
}

export interface WorldOptions {
  /** Extra environment of the world (every app started on it sees it). */
  env?: Record<string, string>;
  /** Extra environment of the file's app. */
  appEnv?: Record<string, string>;
  /** Start the file's app before the tests (default true); with false, start it with ctx.startApp(). */
  app?: boolean;
}

/** What useWorld() gives a describe block; read it inside tests and hooks, not at describe level. */
export interface WorldContext {
  readonly world: TestWorld;
  /** The file's app: the one useWorld() started, or the latest from startApp()/restartApp(). */
  readonly app: TestApp;
  readonly baseUrl: string;
  /**
   * Starts an app on the world with `env` (default appEnv), closed with the world; it becomes ctx.app when
   * there is none yet, so `app: false` files start their app with it and other files their extra workers.
   */
  startApp(env?: Record<string, string>): Promise<TestApp>;
  /** Closes ctx.app (if it runs) and starts a new one in its place, with `env` (default appEnv). */
  restartApp(env?: Record<string, string>): Promise<TestApp>;
}

/**
 * Every integration file needs the same setup: a world of its own (database, Redis prefix), usually an app
 * on it, and both gone after its tests, apps first. Call it at describe level instead of repeating the
 * beforeAll/afterAll pair. Apps started through the context close once however often close() is called.
 * Jest runs after-all hooks in declaration order: teardown that must come first (child processes still
 * using the world) is declared before the call.
 */
export function useWorld(options: WorldOptions = {}): WorldContext {
  let world: TestWorld | undefined;
  let current: TestApp | undefined;
  const apps: TestApp[] = [];
  const required = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useWorld: no ${what} yet (read it inside tests and hooks)`);
    return value;
  };
  const start = async (env = options.appEnv) => {
    const started = await startApp(required(world, 'world'), env);
    const app = { ...started, close: once(started.close) };
    apps.push(app);
    return app;
  };
  beforeAll(async () => {
    world = await createWorld(options.env);
    if (options.app !== false) current = await start();
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await world?.destroy();
  });
  return {
    get world() {
      return required(world, 'world');
    },
    get app() {
      return required(current, 'app');
    },
    get baseUrl() {
      return required(current, 'app').baseUrl;
    },
    async startApp(env) {
      const started = await start(env);
      current ??= started;
      return started;
    },
    async restartApp(env) {
      await current?.close();
      current = undefined;
      return (current = await start(env));
    },
  };
}

function once(work: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= work());
}

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function http<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult<T>> {
  const response = await fetch(baseUrl + path, {
    method,
    headers: { 'content-type': 'application/json', connection: 'close', ...asClient, ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

let courseCounter = 0;

/** Creates a course through the operator API and returns its id. */
export async function newCourse(baseUrl: string, capacity: number): Promise<number> {
  courseCounter += 1;
  const code = `T${process.pid % 1000}-${courseCounter}-${randomBytes(2).toString('hex')}`;
  const created = await http(
    baseUrl,
    'POST',
    '/courses',
    { code, title: `Test course ${code}`, capacity },
    asAdmin,
  );
  if (created.status !== 201)
    throw new Error(`course creation failed: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body.id as number;
}

export interface EnrollBody {
  student_id: string;
  course_id: number;
  priority?: number;
  idempotency_key: string;
  swap_for?: string;
}

let requestCounter = 0;

/** A valid POST /enroll body for the course: a student and a key no other request of the run has. */
export function newRequest(courseId: number, fields: Partial<EnrollBody> = {}): EnrollBody {
  requestCounter += 1;
  const unique = `${process.pid}-${requestCounter}-${randomBytes(2).toString('hex')}`;
  return { student_id: `st-${unique}`, course_id: courseId, idempotency_key: `key-${unique}`, ...fields };
}

/**
 * Polls GET /enrollments/:key until the request has left 'queued'; resolves with the whole answer (status,
 * headers, body). Asynchronous decisions get a generous deadline: a loaded machine is slower, not wrong.
 */
export function waitForDecision(baseUrl: string, key: string): Promise<HttpResult> {
  return eventually(
    async () => {
      const found = await http(baseUrl, 'GET', `/enrollments/${encodeURIComponent(key)}`);
      return found.status === 200 && found.body.status !== 'queued' ? found : undefined;
    },
    60_000,
    `decision of ${key}`,
  );
}

/** Enrolls the requests through the API and waits until every one is decided. */
export async function enrollAll(baseUrl: string, requests: EnrollBody[]): Promise<void> {
  for (const request of requests) {
    const accepted = await http(baseUrl, 'POST', '/enroll', request);
    if (accepted.status !== 202)
      throw new Error(`enroll answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
  }
  await Promise.all(requests.map((request) => waitForDecision(baseUrl, request.idempotency_key)));
}

/** A course's whole record, paged as operators read it (GET /courses/:id/events). */
export async function courseEvents(baseUrl: string, courseId: number): Promise<LiveEvent[]> {
  const events: LiveEvent[] = [];
  for (let after = '0'; ;) {
    const page = await http(
      baseUrl,
      'GET',
      `/courses/${courseId}/events?limit=1000&after=${after}`,
      undefined,
      asAdmin,
    );
    if (page.status !== 200) throw new Error(`events of course ${courseId}: ${page.status}`);
    if (page.body.events.length === 0) return events;
    events.push(...page.body.events);
    after = page.body.next;
  }
}

/** One series' value in a /metrics text (`name` or `name{labels}` as printed); 0 when it is not there yet. */
export function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((row) => row.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** Polls until check() returns a value other than undefined, or fails after the deadline. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The partition queue a course's jobs go to, as the app is configured, on a connection of its own (close it). */
export function partitionQueueOf(app: TestApp, courseId: number): Queue<AllocationJobData> {
  return new Queue<AllocationJobData>(
    partitionQueueName(partitionOf(courseId, app.config.allocationPartitions)),
    {
      connection: { host: app.config.redis.host, port: app.config.redis.port },
      prefix: app.config.queuePrefix,
    },
  );
}

/**
 * The calls a schedule or swap test makes through HTTP, on the world's API (reads answer with the body),
 * and fresh students and courses whose names start with `prefix`.
 */
export function apiCalls(ctx: WorldContext, prefix: string) {
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    http(ctx.baseUrl, method, path, body, headers);
  let counter = 0;
  return {
    call,
    request: async (key: string) => (await call('GET', `/enrollments/${encodeURIComponent(key)}`)).body,
    schedule: async (student: string) => (await call('GET', `/students/${student}/schedule`)).body,
    course: async (id: number) => (await call('GET', `/courses/${id}`)).body,
    drop: (key: string) => call('DELETE', `/enrollments/${encodeURIComponent(key)}`),
    student: () => `${prefix}-${process.pid}-${(counter += 1)}-${randomBytes(2).toString('hex')}`,
    /** A course with these seats, credits and meetings; resolves with its id. */
    async newCourse(capacity: number, credits = 0, meetings: unknown[] = []): Promise<number> {
      const code = `${prefix.toUpperCase()}${(counter += 1)}-${randomBytes(3).toString('hex')}`;
      const created = await call(
        'POST',
        '/courses',
        { code, title: code, capacity, credits, meetings },
        asAdmin,
      );
      if (created.status !== 201) throw new Error(`POST /courses answered ${created.status}`);
      return created.body.id as number;
    },
  };
}
