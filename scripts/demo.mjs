// npm run demo: 500 students, 30 seats, one second. Starts the built service on a fresh database, sends
// the stampede over HTTP (with duplicate retries, second keys and mixed priorities), waits for every
// decision and checks the guarantees. Exit 0 when every invariant holds, 1 when one fails, 2 when
// PostgreSQL or Redis cannot be reached. DEMO_URL=http://host:port (with ADMIN_TOKEN) uses a running service.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  ADMIN_DATABASE_URL,
  databaseUrl as urlOfDatabase,
  deleteRedisKeys,
  freePort,
  REDIS,
  withClient,
} from './kit.mjs';

const DATABASE = 'courseflow_demo';
const SEATS = 30;
const STUDENTS = 500;
const RETRIED = 100; // students whose request is sent twice at once (same key, same payload)
const SECOND_KEYS = 20; // students who also ask again under a new key
const PRIORITIES = [0, 10, 50, 100];
const ORDER_TOLERANCE_MS = 100;

let service;
process.on('SIGINT', async () => {
  await stopService();
  process.exit(130);
});

// ------------------------------------------------------------ dependencies and the service

async function checkDependencies() {
  const problems = [];
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    problems.push(
      `PostgreSQL is not reachable at ${new URL(ADMIN_DATABASE_URL).host} (${error.message}).\n` +
        '  Start it: `pg_ctlcluster 15 main start` (or your system service), or `docker compose up -d postgres redis`.',
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  const redis = new Redis({
    ...REDIS,
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    problems.push(
      `Redis is not reachable at ${REDIS.host}:${REDIS.port} (${error.message}).\n` +
        '  Start it: `redis-server --daemonize yes` (or your system service), or `docker compose up -d postgres redis`.',
    );
  } finally {
    redis.disconnect();
  }
  if (problems.length > 0) {
    console.error(problems.join('\n'));
    process.exit(2);
  }
}

async function freshDatabase() {
  await withClient(ADMIN_DATABASE_URL, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${DATABASE}`);
  });
  return urlOfDatabase(DATABASE);
}

async function startService(databaseUrl, queuePrefix, adminToken) {
  if (!existsSync('dist/main.js'))
    throw new Error('dist/main.js is missing: run `npm run build` (npm run demo does)');
  const port = await freePort();
  const logFile = join(tmpdir(), `courseflow-demo-${port}.log`);
  const log = openSync(logFile, 'w');
  const child = spawn(process.execPath, ['dist/main.js'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      QUEUE_PREFIX: queuePrefix,
      REDIS_HOST: REDIS.host,
      REDIS_PORT: String(REDIS.port),
      SERVER_PORT: String(port),
      ADMIN_TOKEN: adminToken,
      ROLE: 'all',
      RUN_MIGRATIONS: 'true',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', log, log],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  service = { child, exited };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while ((await fetch(`${url}/ready`).catch(() => null))?.status !== 200) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`the service did not become ready; its log is ${logFile}`);
    }
    await sleep(100);
  }
  console.log(`service: ${url} (ROLE=all, log ${logFile})`);
  return url;
}

async function stopService() {
  if (!service) return;
  service.child.kill('SIGTERM');
  await service.exited;
  service = undefined;
}

// ------------------------------------------------------------ the stampede

async function post(url, path, body, headers = {}) {
  const started = performance.now();
  const response = await fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json(), ms: performance.now() - started };
}

async function stampede(url, courseId) {
  const students = Array.from({ length: STUDENTS }, (_, i) => ({
    student_id: `s-${String(i).padStart(4, '0')}`,
    course_id: courseId,
    priority: PRIORITIES[i % PRIORITIES.length],
    idempotency_key: `demo-${i}`,
  }));
  const sends = students.map((request) => ({ request, kind: 'first' }));
  for (const request of students.slice(0, RETRIED)) sends.push({ request, kind: 'retry' });
  for (const request of students.slice(RETRIED, RETRIED + SECOND_KEYS)) {
    sends.push({
      request: { ...request, idempotency_key: `${request.idempotency_key}-again` },
      kind: 'second-key',
    });
  }
  const started = performance.now();
  // answeredAt: by then a 202's request is in the queue (its job is stored before the answer is sent).
  const answers = await Promise.all(
    sends.map(async (send) => ({
      ...send,
      ...(await post(url, '/enroll', send.request)),
      answeredAt: Date.now(),
    })),
  );
  return { answers, started };
}

/** The course's queue depth (accepted, not yet decided) as /metrics/json reports it. */
async function queueDepth(url, courseCode) {
  const metrics = await (await fetch(`${url}/metrics/json`)).json();
  const depth = metrics.find((metric) => metric.name === 'courseflow_queue_depth');
  return depth?.values.find((value) => value.labels.course === courseCode)?.value ?? 0;
}

/**
 * Waits on one cheap figure (the course's queue depth) rather than polling every request, so the demo
 * does not compete with the engine it measures; then reads every outcome once over HTTP.
 */
async function waitForDecisions(url, courseCode, keys) {
  const deadline = Date.now() + 60_000;
  while ((await queueDepth(url, courseCode)) > 0) {
    // Past the deadline the undecided requests show up as a FAIL of the invariants below.
    if (Date.now() > deadline) break;
    await sleep(50);
  }
  const outcomes = new Map();
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(
      keys.slice(i, i + 50).map(async (key) => {
        const found = await (await fetch(`${url}/enrollments/${encodeURIComponent(key)}`)).json();
        if (found.status && found.status !== 'queued') outcomes.set(key, found);
      }),
    );
  }
  return outcomes;
}

// ------------------------------------------------------------ the checks

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function checkInvariants({ url, databaseUrl, courseId, answers, outcomes }) {
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok, detail });
  const decided = [...outcomes.values()];
  const enrolled = decided.filter((o) => o.status === 'enrolled');
  const waitlisted = decided.filter((o) => o.status === 'waitlisted');
  const course = await (await fetch(`${url}/courses/${courseId}`)).json();

  let rowsEnrolled = null;
  if (databaseUrl) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    rowsEnrolled = (
      await client.query('SELECT count(*)::int AS n FROM enrollments WHERE course_id = $1', [courseId])
    ).rows[0].n;
    await client.end();
  }
  check(
    'capacity: seats_taken <= capacity and equals the enrolled requests',
    course.seats_taken <= course.capacity &&
      course.seats_taken === enrolled.length &&
      (rowsEnrolled === null || rowsEnrolled === course.seats_taken),
    `seats_taken ${course.seats_taken}/${course.capacity}, enrolled ${enrolled.length}` +
      (rowsEnrolled === null ? '' : `, enrollment rows ${rowsEnrolled}`),
  );

  const acceptedKeys = new Set(answers.filter((a) => a.status === 202).map((a) => a.request.idempotency_key));
  check(
    'exactly one decision for every accepted request',
    [...acceptedKeys].every((key) => outcomes.has(key)) && outcomes.size === acceptedKeys.size,
    `${acceptedKeys.size} accepted (202), ${outcomes.size} decided`,
  );

  const placesByStudent = new Map();
  for (const o of decided.filter((o) => o.status !== 'rejected')) {
    placesByStudent.set(o.student_id, (placesByStudent.get(o.student_id) ?? 0) + 1);
  }
  const doubled = [...placesByStudent.values()].filter((n) => n > 1).length;
  check(
    'one place per student, whatever the number of keys',
    doubled === 0,
    `${doubled} students with two places`,
  );

  const retries = answers.filter((a) => a.kind === 'retry');
  const firstOf = (key) => answers.find((a) => a.request.idempotency_key === key && a.kind === 'first');
  const retriesOk = retries.every((a) => {
    const first = firstOf(a.request.idempotency_key);
    return (
      [200, 202].includes(a.status) && [200, 202].includes(first.status) && a.status + first.status === 402
    );
  });
  check(
    'duplicates: a retried key got one 202 and one 200, and no second place',
    retriesOk,
    `${retries.length} retries: ${retries.filter((a) => a.status === 200).length} answered 200`,
  );

  const positions = waitlisted.map((o) => o.waitlist_position).sort((a, b) => a - b);
  check(
    'waitlist positions are exactly 1..N',
    positions.every((position, i) => position === i + 1),
    `${positions.length} waitlisted, positions ${positions[0] ?? '-'}..${positions.at(-1) ?? '-'}`,
  );

  // Guarantee 4: a request is never decided before a higher-priority one that was already queued. A 202
  // answered before another request's decision began means the first was queued by then.
  const queuedAt = new Map(
    answers
      .filter((answer) => answer.status === 202)
      .map((answer) => [answer.request.idempotency_key, answer.answeredAt]),
  );
  const violations = [];
  for (const w of waitlisted) {
    for (const e of enrolled) {
      if (
        w.priority > e.priority &&
        queuedAt.get(w.idempotency_key) + ORDER_TOLERANCE_MS < Date.parse(e.decided_at)
      ) {
        violations.push(
          `${w.idempotency_key} (priority ${w.priority}) waitlisted behind ${e.idempotency_key} (priority ${e.priority})`,
        );
      }
    }
  }
  check(
    `priority: no waitlisted request outranks an enrolled one decided >${ORDER_TOLERANCE_MS} ms after its 202`,
    violations.length === 0,
    violations.length === 0 ? 'none' : violations.slice(0, 3).join('; '),
  );
  return checks;
}

function report({ answers, started, outcomes, checks }) {
  const decided = [...outcomes.values()];
  const lastDecision = Math.max(...decided.map((o) => Date.parse(o.decided_at)));
  const firstSend = performance.timeOrigin + started;
  const byStatus = (status) => decided.filter((o) => o.status === status).length;
  const reasons = {};
  for (const o of decided.filter((o) => o.status === 'rejected'))
    reasons[o.reason] = (reasons[o.reason] ?? 0) + 1;
  const codes = {};
  for (const a of answers) codes[a.status] = (codes[a.status] ?? 0) + 1;
  const latencies = answers.map((a) => a.ms);

  console.log(
    `\nCourseFlow demo: ${STUDENTS} students, ${SEATS} seats, ${answers.length} concurrent POST /enroll`,
  );
  console.log(
    `  HTTP answers      ${Object.entries(codes)
      .map(([code, n]) => `${code}: ${n}`)
      .join(', ')}`,
  );
  console.log(`  enrolled          ${byStatus('enrolled')}`);
  console.log(`  waitlisted        ${byStatus('waitlisted')}`);
  console.log(
    `  rejected          ${byStatus('rejected')}${
      Object.keys(reasons).length
        ? ` (${Object.entries(reasons)
            .map(([r, n]) => `${r}: ${n}`)
            .join(', ')})`
        : ''
    }`,
  );
  console.log(
    `  wall time         ${((lastDecision - firstSend) / 1000).toFixed(2)} s (first request sent to last decision)`,
  );
  console.log(
    `  accept latency    p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
  );
  console.log('\nInvariants');
  for (const { name, ok, detail } of checks) console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${name} — ${detail}`);
  return checks.every((c) => c.ok);
}

// ------------------------------------------------------------ main

async function main() {
  const queuePrefix = `demo-${randomBytes(4).toString('hex')}`;
  let url = process.env.DEMO_URL;
  let adminToken = process.env.ADMIN_TOKEN;
  let databaseUrl = null;
  if (!url) {
    await checkDependencies();
    databaseUrl = await freshDatabase();
    adminToken = randomBytes(16).toString('hex');
    url = await startService(databaseUrl, queuePrefix, adminToken);
  }
  try {
    const created = await post(
      url,
      '/courses',
      { code: `DEMO-${randomBytes(3).toString('hex')}`, title: 'The course everyone wants', capacity: SEATS },
      { authorization: `Bearer ${adminToken}` },
    );
    if (created.status !== 201)
      throw new Error(`course creation answered ${created.status}: ${JSON.stringify(created.body)}`);
    const courseId = created.body.id;
    const { answers, started } = await stampede(url, courseId);
    const acceptedKeys = [
      ...new Set(answers.filter((a) => a.status === 202).map((a) => a.request.idempotency_key)),
    ];
    const outcomes = await waitForDecisions(url, created.body.code, acceptedKeys);
    const checks = await checkInvariants({ url, databaseUrl, courseId, answers, outcomes });
    return report({ answers, started, outcomes, checks });
  } finally {
    await stopService();
    if (databaseUrl) await deleteRedisKeys(`${queuePrefix}:*`);
  }
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  async (error) => {
    console.error(`demo failed: ${error.message}`);
    await stopService();
    process.exit(1);
  },
);
