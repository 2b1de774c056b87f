// npm run demo: 500 students, 30 seats, one second. Starts the built service on a fresh database, sends
// the stampede over HTTP (with duplicate retries, second keys and mixed priorities), waits for every
// decision and checks the guarantees. Then 10 enrolled students drop, one waitlisted student leaves and
// the capacity grows by 5, each step checked against the waitlist and the course's events. Five of the
// students and an operator follow it all live on /ws, checked against the record at the end. Then
// schedules, swaps, offers and a fair opening; last, webhooks: a receiver in the demo that answers 500 to
// every third call and goes away for a few seconds gets a course's every event, signed, in commit order
// (the service runs with WEBHOOK_RETRY_MAX_MS=2000, so retries wait seconds, not a minute). Exit 0 when
// every invariant holds, 1 when one fails, 2 when PostgreSQL or Redis cannot be reached.
// DEMO_URL=http://host:port (with ADMIN_TOKEN, and CLIENT_TOKEN when that service sets CLIENT_TOKENS) uses a running service.
// Otherwise the demo's database is its own, courseflow_demo_<pid> (or DEMO_DATABASE), dropped at the end, also
// after a failure or Ctrl-C.
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, openSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  ADMIN_DATABASE_URL,
  comparableEvent,
  databaseUrl as urlOfDatabase,
  DECISION_EVENT_TYPES,
  deleteRedisKeys,
  freePort,
  LiveClient,
  REDIS,
  withClient,
} from './kit.mjs';

const DATABASE = process.env.DEMO_DATABASE || `courseflow_demo_${process.pid}`;
const SEATS = 30;
const STUDENTS = 500;
const RETRIED = 100; // students whose request is sent twice at once (same key, same payload)
const SECOND_KEYS = 20; // students who also ask again under a new key
const PRIORITIES = [0, 10, 50, 100];
const ORDER_TOLERANCE_MS = 100;
// Followed live on /ws: a retried request, a student with two keys, and three others.
const WATCHED = ['s-0000', 's-0101', 's-0250', 's-0333', 's-0499'];

let service;
/** What the run made and must take away: its database and its Redis keys. */
const made = { database: false, queuePrefix: null };
let cleaning;

/** Stops the service, drops the run's database and deletes its Redis keys, once, whichever path gets here first. */
function cleanUp() {
  cleaning ??= (async () => {
    await stopService().catch(() => undefined);
    if (made.queuePrefix) await deleteRedisKeys(`${made.queuePrefix}:*`).catch(() => undefined);
    if (made.database) {
      await withClient(ADMIN_DATABASE_URL, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`),
      ).catch((error) => console.error(`could not drop the demo's database ${DATABASE}: ${error.message}`));
    }
  })();
  return cleaning;
}

// Output piped into a reader that went away (`npm run demo | head`): clean up rather than die on EPIPE.
process.stdout.on('error', async () => {
  await cleanUp();
  process.exit(1);
});
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
]) {
  process.on(signal, async () => {
    await cleanUp();
    process.exit(code);
  });
}

// ------------------------------------------------------------ dependencies and the service

async function checkDependencies() {
  const problems = [];
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    problems.push(
      `PostgreSQL is not reachable at ${new URL(ADMIN_DATABASE_URL).host} as ADMIN_DATABASE_URL says (${error.message}).\n` +
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
      `Redis is not reachable at ${REDIS.host}:${REDIS.port} as REDIS_HOST/REDIS_PORT say (${error.message}).\n` +
        `  Start it: \`redis-server --port ${REDIS.port} --daemonize yes\` (or your system service)` +
        (REDIS.port === 6379
          ? ', or `docker compose up -d postgres redis`.'
          : `; \`docker compose up -d postgres redis\` publishes Redis on 6379, not ${REDIS.port}.`),
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
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(DATABASE)) {
    console.error(`DEMO_DATABASE must be a plain database name ([a-z_][a-z0-9_]*), got "${DATABASE}"`);
    process.exit(2);
  }
  // Never a DROP first: the demo drops only a database it made (DEMO_DATABASE may name one of yours).
  await withClient(ADMIN_DATABASE_URL, (client) => client.query(`CREATE DATABASE ${DATABASE}`)).catch(
    (error) => {
      if (error.code !== '42P04') throw error;
      console.error(
        `database ${DATABASE} already exists; the demo makes its own and drops it afterwards: ` +
          'set DEMO_DATABASE to a name not in use, or drop that database',
      );
      process.exit(2);
    },
  );
  made.database = true;
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
      CLIENT_TOKENS: clientToken,
      ROLE: 'all',
      RUN_MIGRATIONS: 'true',
      LOG_LEVEL: 'warn',
      // The Webhooks section's retries wait 1 s, then 2 s at most (the default cap is a minute).
      WEBHOOK_RETRY_MAX_MS: String(WEBHOOK_RETRY_MAX_MS),
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
  console.log(`service: ${url} (ROLE=all, log ${logFile}), database ${DATABASE} (dropped at the end)`);
  return url;
}

async function stopService() {
  if (!service) return;
  service.child.kill('SIGTERM');
  await service.exited;
  service = undefined;
}

/**
 * The demo acts as the student portal: with a client token (CLIENT_TOKENS on the service it starts; with
 * DEMO_URL, the CLIENT_TOKEN you give it, if that service wants one).
 */
let clientToken = process.env.CLIENT_TOKEN;
const asClient = () => (clientToken ? { authorization: `Bearer ${clientToken}` } : {});

// ------------------------------------------------------------ the stampede

async function post(url, path, body, headers = {}) {
  const started = performance.now();
  const response = await fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...asClient(), ...headers },
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
  const metrics = await (await fetch(`${url}/metrics/json`, { headers: asClient() })).json();
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
  const outcomes = await readRequests(url, keys);
  for (const [key, found] of outcomes) if (!found.status || found.status === 'queued') outcomes.delete(key);
  return outcomes;
}

/** Every request's current state by key, 50 GETs at a time. */
async function readRequests(url, keys) {
  const requests = new Map();
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(
      keys.slice(i, i + 50).map(async (key) => {
        requests.set(
          key,
          await (
            await fetch(`${url}/enrollments/${encodeURIComponent(key)}`, { headers: asClient() })
          ).json(),
        );
      }),
    );
  }
  return requests;
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
  const course = await (await fetch(`${url}/courses/${courseId}`, { headers: asClient() })).json();

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

  // docs/guarantees.md §4: a request is never decided before a higher-priority one already queued. A 202
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
  console.log(
    `                    (all ${answers.length} sent at once: each waits behind the ones that arrived with it; npm run bench\n` +
      '                    keeps 64 connections with one request each in flight, so its figures are lower and steadier)',
  );
  printChecks('Invariants', checks);
  return checks.every((c) => c.ok);
}

function printChecks(title, checks) {
  console.log(`\n${title}`);
  for (const { name, ok, detail } of checks) console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${name} — ${detail}`);
}

// ------------------------------------------------------------ after the stampede: drops, a leaver, a raise

const DROPS = 10; // enrolled students who drop: the waitlist's first 10 take their seats
const RAISE = 5; // extra seats: the next 5 heads take them

/** A JSON call that must succeed; anything else stops the demo (exit 1) with the answer. */
async function call(url, method, path, { body, headers = {} } = {}) {
  const response = await fetch(url + path, {
    method,
    headers: { 'content-type': 'application/json', ...asClient(), ...headers },
    body: body && JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

/** The course's events after the cursor (from the first without one), paged until an empty page. */
async function readEvents(url, headers, courseId, cursor) {
  const events = [];
  for (;;) {
    const after = cursor === undefined ? '' : `&after=${encodeURIComponent(cursor)}`;
    const page = await call(url, 'GET', `/courses/${courseId}/events?limit=100${after}`, { headers });
    if (page.events.length === 0) return { events, cursor: page.next };
    events.push(...page.events);
    cursor = page.next;
  }
}

/** The waitlisted requests, head first. */
function waitlistOf(requests) {
  return [...requests.values()]
    .filter((r) => r.status === 'waitlisted')
    .sort((a, b) => a.waitlist_position - b.waitlist_position);
}

/** One event as a comparable line: `promoted demo-42 enrolled`, `capacity_changed 35`. */
const eventLine = (e) =>
  [e.type, e.idempotency_key ?? e.capacity, e.status].filter((v) => v != null).join(' ');
const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * docs/guarantees.md §1, §6, §7 after a step: the seat count, no idle seat beside a waitlist, dense positions,
 * the expected heads promoted in waitlist order, and exactly the step's changes on the course's record.
 */
function checkStep({ course, before, after, events, promoted, expectedEvents }) {
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok, detail });
  const enrolled = [...after.values()].filter((r) => r.status === 'enrolled').length;
  const waitlist = waitlistOf(after);
  check(
    'capacity: seats_taken <= capacity and equals the enrolled requests',
    course.seats_taken <= course.capacity && course.seats_taken === enrolled,
    `seats_taken ${course.seats_taken}/${course.capacity}, enrolled ${enrolled}`,
  );
  check(
    'no free seat beside a non-empty waitlist',
    !(course.seats_available > 0 && course.waitlist_length > 0) && course.waitlist_length === waitlist.length,
    `seats_available ${course.seats_available}, waitlist_length ${course.waitlist_length}, ` +
      `${waitlist.length} waitlisted requests`,
  );
  check(
    'waitlist positions are exactly 1..N',
    waitlist.every((r, i) => r.waitlist_position === i + 1),
    `${waitlist.length} waitlisted, positions ${waitlist[0]?.waitlist_position ?? '-'}..` +
      `${waitlist.at(-1)?.waitlist_position ?? '-'}`,
  );
  // The record's promotions, in commit order, must be the old heads in their old order.
  const recorded = events.filter((e) => e.type === 'promoted').map((e) => e.idempotency_key);
  const places = promoted.map((key) => before.get(key).waitlist_position);
  check(
    'promoted: the waitlist heads, in order',
    sameList(recorded, promoted) &&
      promoted.every((key) => after.get(key).status === 'enrolled' && after.get(key).promoted_at),
    promoted.length === 0
      ? `none expected, ${recorded.length} recorded`
      : `${recorded.length} promoted, old places ${places.join(', ')}`,
  );
  const lines = events.map(eventLine);
  const counts = {};
  for (const e of events) counts[e.type] = (counts[e.type] ?? 0) + 1;
  check(
    'event stream: exactly the expected changes',
    sameList([...lines].sort(), [...expectedEvents].sort()),
    `${events.length} new events (${Object.entries(counts)
      .map(([type, n]) => `${type} ${n}`)
      .join(', ')}), ${expectedEvents.length} expected`,
  );
  return checks;
}

/** Prints each promoted request with its old waitlist place and its status now. */
function printPromoted(promoted, before, after) {
  for (const key of promoted) {
    const { student_id, waitlist_position } = before.get(key);
    console.log(
      `  promoted ${student_id} (${key})  waitlist #${waitlist_position} → ${after.get(key).status}`,
    );
  }
}

/** A check on a DELETE's answer: the request's final state, dropped, with dropped_at. */
function droppedAnswers(answers) {
  const dropped = answers.filter((a) => a.status === 'dropped' && a.dropped_at).length;
  return {
    name: 'DELETE answered the final state: dropped, with dropped_at',
    ok: dropped === answers.length,
    detail: `${dropped} of ${answers.length} dropped`,
  };
}

async function lifecycle(url, adminToken, courseId, keys) {
  const admin = { authorization: `Bearer ${adminToken}` };
  const drop = (key) => call(url, 'DELETE', `/enrollments/${encodeURIComponent(key)}`);
  let { cursor } = await readEvents(url, admin, courseId); // past the stampede's decisions
  /** Every request, the course, and the events recorded since the last look. */
  async function look() {
    const requests = await readRequests(url, keys);
    const course = await call(url, 'GET', `/courses/${courseId}`);
    const read = await readEvents(url, admin, courseId, cursor);
    cursor = read.cursor;
    return { after: requests, course, events: read.events };
  }
  const checks = [];
  const verify = (title, stepChecks) => {
    printChecks(title, stepChecks);
    checks.push(...stepChecks);
  };

  // Step 1: the drops run at once; each frees a seat that its own transaction gives to the waitlist's head.
  let before = await readRequests(url, keys);
  const leavers = [...before.values()]
    .filter((r) => r.status === 'enrolled')
    .sort((a, b) => a.student_id.localeCompare(b.student_id))
    .slice(0, DROPS)
    .map((r) => r.idempotency_key);
  let heads = waitlistOf(before)
    .slice(0, DROPS)
    .map((r) => r.idempotency_key);
  const answers = await Promise.all(leavers.map(drop));
  let now = await look();
  console.log(`\nStep 1: ${DROPS} enrolled students drop at once (DELETE /enrollments/:key)`);
  console.log(`  dropped: ${leavers.join(', ')}`);
  printPromoted(heads, before, now.after);
  verify('Invariants after step 1', [
    ...checkStep({
      ...now,
      before,
      promoted: heads,
      expectedEvents: [
        ...leavers.map((key) => `dropped ${key} dropped`),
        ...heads.map((key) => `promoted ${key} enrolled`),
      ],
    }),
    droppedAnswers(answers),
  ]);

  // Step 2: leaving from the middle frees no seat; it only moves everyone behind one place up.
  before = now.after;
  const waitlist = waitlistOf(before);
  const leaver = waitlist[Math.floor((waitlist.length - 1) / 2)];
  const place = leaver.waitlist_position;
  const answer = await drop(leaver.idempotency_key);
  now = await look();
  const others = waitlist.filter((r) => r !== leaver);
  const misplaced = others.filter(
    (r) =>
      now.after.get(r.idempotency_key).waitlist_position !==
      r.waitlist_position - (r.waitlist_position > place ? 1 : 0),
  );
  console.log('\nStep 2: a waitlisted student from the middle of the list leaves (DELETE /enrollments/:key)');
  console.log(`  ${leaver.student_id} (${leaver.idempotency_key}) left waitlist place #${place}`);
  verify('Invariants after step 2', [
    ...checkStep({
      ...now,
      before,
      promoted: [],
      expectedEvents: [`dropped ${leaver.idempotency_key} dropped`],
    }),
    droppedAnswers([answer]),
    {
      name: 'everyone behind the leaver moved up one place, nobody ahead moved',
      ok: misplaced.length === 0,
      detail: `${waitlist.length - place} behind, ${place - 1} ahead, ${misplaced.length} misplaced`,
    },
  ]);

  // Step 3: a raise promotes as many heads as it adds seats, in the PATCH's own transaction.
  before = now.after;
  heads = waitlistOf(before)
    .slice(0, RAISE)
    .map((r) => r.idempotency_key);
  const capacity = now.course.capacity + RAISE;
  const changed = await call(url, 'PATCH', `/courses/${courseId}`, { body: { capacity }, headers: admin });
  now = await look();
  console.log(`\nStep 3: capacity raised by ${RAISE} (PATCH /courses/:id)`);
  console.log(
    `  capacity ${capacity - RAISE} → ${changed.capacity}, seats_taken ${changed.seats_taken}, ` +
      `waitlist_length ${changed.waitlist_length}`,
  );
  printPromoted(heads, before, now.after);
  verify('Invariants after step 3', [
    ...checkStep({
      ...now,
      before,
      promoted: heads,
      expectedEvents: [`capacity_changed ${capacity}`, ...heads.map((key) => `promoted ${key} enrolled`)],
    }),
  ]);
  return checks.every((c) => c.ok);
}

// ------------------------------------------------------------ live events (/ws)

/** Subscribes before the stampede, through the kit's client: a few of its students, and its course as an operator. */
async function followLive(url, adminToken, courseId) {
  const live = {
    students: WATCHED.map((student_id) => new LiveClient(url, [{ student_id }], { headers: asClient() })),
    course: new LiveClient(url, [{ course_id: courseId, token: adminToken }]),
    refused: [],
  };
  live.all = [...live.students, live.course];
  for (const client of live.all) client.on('refused', (message) => live.refused.push(message.message));
  await Promise.all(live.all.map((client) => client.ready));
  return live;
}

/**
 * After the run: what the subscriptions received against the course's record (GET /courses/:id/events),
 * and how long after its commit each event arrived (its `at`, written by its transaction, to its receipt).
 */
async function checkLive(url, adminToken, courseId, live, decisions) {
  const { events: record } = await readEvents(url, { authorization: `Bearer ${adminToken}` }, courseId);
  const expected = live.students.map((_, i) =>
    record.filter((e) => e.student_id === WATCHED[i]).map(comparableEvent),
  );
  // Each event is due within 1 s of its commit; the deadline only bounds a run that lost some.
  const deadline = Date.now() + 5000;
  const caughtUp = () =>
    live.course.events.length >= record.length &&
    live.students.every((client, i) => client.events.length >= expected[i].length);
  while (!caughtUp() && Date.now() < deadline) await sleep(20);

  const received = live.all.flatMap((client) => client.events);
  const lags = received.map(({ event, receivedAt }) => receivedAt - Date.parse(event.at));
  const studentEvents = live.students.reduce((n, client) => n + client.events.length, 0);
  const courseLines = live.course.events.map(({ event }) => comparableEvent(event));
  const decisionEvents = live.course.events.filter(({ event }) =>
    DECISION_EVENT_TYPES.has(event.type),
  ).length;
  const studentsExact = live.students.every((client, i) =>
    sameList(
      client.events.map(({ event }) => comparableEvent(event)),
      expected[i],
    ),
  );
  console.log(`\nLive events (/ws, subscribed before the stampede)`);
  console.log(
    `  received          ${studentEvents} by ${WATCHED.length} students' subscriptions, ` +
      `${live.course.events.length} by the operator's (course ${courseId})`,
  );
  console.log(
    received.length === 0
      ? '  delivery latency  - (no events)'
      : `  delivery latency  p50 ${percentile(lags, 50).toFixed(1)} ms, p99 ${percentile(lags, 99).toFixed(1)} ms ` +
          `(commit to receipt, ${received.length} events)`,
  );
  const checks = [
    {
      name: 'every subscription accepted',
      ok: live.refused.length === 0,
      detail: live.refused.length === 0 ? `${live.all.length} subscriptions` : live.refused.join('; '),
    },
    {
      name: 'operator subscription: one decision event per decision',
      ok: decisionEvents === decisions,
      detail: `${decisionEvents} decision events, ${decisions} decisions`,
    },
    {
      name: "operator subscription: the course's record, in order, none missing or repeated",
      ok: sameList(courseLines, record.map(comparableEvent)),
      detail: `${courseLines.length} received, ${record.length} recorded`,
    },
    {
      name: "student subscriptions: exactly each student's events, in order",
      ok: studentsExact,
      detail: `${studentEvents} received, ${expected.flat().length} recorded for ${WATCHED.join(', ')}`,
    },
  ];
  printChecks('Invariants of the live events', checks);
  return checks.every((c) => c.ok);
}

// ------------------------------------------------------------ main

// ------------------------------------------------------------ schedules: a limit, a conflict, a block lifted

/** Sends one request and polls until it is decided; returns the request object. */
async function enrollAndWait(url, body) {
  await call(url, 'POST', '/enroll', { body });
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(50)) {
    const request = await call(url, 'GET', `/enrollments/${encodeURIComponent(body.idempotency_key)}`);
    if (request.status !== 'queued') return request;
  }
  throw new Error(`request ${body.idempotency_key} was not decided within 30 s`);
}

/** Creates 4-credit courses named `<code>-<tag>`; resolves with each one's id. */
const fourCreditCourses = (url, admin, tag) => async (code, capacity, meetings) =>
  (
    await call(url, 'POST', '/courses', {
      body: { code: `${code}-${tag}`, title: code, capacity, credits: 4, meetings },
      headers: admin,
    })
  ).id;

/**
 * CONTRACT v3 "Schedules", guarantee 8: a student at a 4-credit limit is refused a clashing course, waits
 * blocked on a full one while the seat goes to the next in line, and is promoted in the very transaction of
 * the drop that lifts the block.
 */
async function schedules(url, adminToken) {
  const admin = { authorization: `Bearer ${adminToken}` };
  const tag = randomBytes(2).toString('hex');
  const newCourse = fourCreditCourses(url, admin, tag);
  const data = await newCourse('DATA', 5, [{ days: 'MWF', start: '10:00', end: '10:50' }]);
  const lab = await newCourse('LAB', 5, [{ days: 'W', start: '10:30', end: '12:00' }]);
  const algo = await newCourse('ALGO', 1, [{ days: 'TR', start: '09:00', end: '10:15' }]);
  const student = `s-sched-${tag}`;
  const request = (who, courseId, suffix) => ({
    student_id: who,
    course_id: courseId,
    idempotency_key: `sched-${tag}-${suffix}`,
  });
  const show = (r) =>
    `${r.student_id} ${r.status}${r.reason ? ` (${r.reason})` : ''}` +
    `${r.waitlist_position ? ` #${r.waitlist_position}` : ''}${r.blocked_reason ? `, blocked: ${r.blocked_reason}` : ''}`;
  const get = (key) => call(url, 'GET', `/enrollments/${encodeURIComponent(key)}`);
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok, detail });

  console.log(`\nSchedules: ${student} may hold 4 credits (PUT /admin/students/${student}/limits)`);
  await call(url, 'PUT', `/admin/students/${student}/limits`, { body: { max_credits: 4 }, headers: admin });
  const held = await enrollAndWait(url, request(student, data, 'data'));
  const clash = await enrollAndWait(url, request(student, lab, 'lab'));
  console.log(`  DATA (4 cr, MWF 10:00) → ${show(held)}; LAB (W 10:30) → ${show(clash)}`);
  check('a clashing course is refused', clash.reason === 'time_conflict', show(clash));

  const holder = await enrollAndWait(url, request(`s-holder-${tag}`, algo, 'holder'));
  const waiting = await enrollAndWait(url, request(student, algo, 'algo'));
  const behind = await enrollAndWait(url, request(`s-behind-${tag}`, algo, 'behind'));
  console.log(`  ALGO (1 seat): ${show(holder)}; ${show(waiting)}; ${show(behind)}`);
  check('joining a waitlist does not count credits', waiting.status === 'waitlisted', show(waiting));

  await call(url, 'DELETE', `/enrollments/${encodeURIComponent(holder.idempotency_key)}`);
  const [skipped, next] = await Promise.all([get(waiting.idempotency_key), get(behind.idempotency_key)]);
  console.log(`  the ALGO seat frees: ${show(skipped)} keeps its place; ${show(next)} takes the seat`);
  check(
    'skip-and-keep: a blocked request keeps place 1, the next takes the seat',
    skipped.waitlist_position === 1 && skipped.blocked_reason === 'max_credits' && next.status === 'enrolled',
    `${show(skipped)}; ${show(next)}`,
  );

  await call(url, 'PATCH', `/courses/${algo}`, { body: { capacity: 2 }, headers: admin });
  const idle = await call(url, 'GET', `/courses/${algo}`);
  console.log(`  ALGO raised to 2 seats: ${idle.seats_available} free beside a waitlist that is all blocked`);

  const dropped = await call(url, 'DELETE', `/enrollments/${encodeURIComponent(held.idempotency_key)}`);
  const promoted = await get(waiting.idempotency_key);
  const dataDrop = (await readEvents(url, admin, data)).events.find((e) => e.type === 'dropped');
  const algoPromotion = (await readEvents(url, admin, algo)).events.find(
    (e) => e.type === 'promoted' && e.idempotency_key === waiting.idempotency_key,
  );
  const schedule = await call(url, 'GET', `/students/${student}/schedule`);
  console.log(
    `  ${student} drops DATA (${dropped.status}) → ALGO: ${show(promoted)}; events dropped and promoted ` +
      `share txid ${dataDrop?.txid} / ${algoPromotion?.txid}; schedule: ${schedule.enrolled_credits} of ` +
      `${schedule.max_credits} credits`,
  );
  check(
    'the drop that lifts the block promotes in the same transaction',
    promoted.status === 'enrolled' && dataDrop?.txid != null && dataDrop.txid === algoPromotion?.txid,
    `txid ${dataDrop?.txid} and ${algoPromotion?.txid}`,
  );
  check(
    'guarantee 8: the student holds at most their limit',
    schedule.enrolled_credits <= schedule.max_credits && schedule.enrolled.length === 1,
    `${schedule.enrolled_credits} of ${schedule.max_credits} credits`,
  );
  printChecks('Schedule checks', checks);
  return checks.every((c) => c.ok);
}

// ------------------------------------------------------------ swaps: never both, never neither

/**
 * CONTRACT v3 "Swap": a student holding a section swaps into another at once (one commit: the new seat, the
 * old one dropped as swapped, the old one's waitlist head promoted); another waits to swap into a full
 * section, keeps what they hold meanwhile, and swaps in the transaction of the drop that frees the seat.
 * A second swap naming the same request is refused (409).
 */
async function swaps(url, adminToken) {
  const admin = { authorization: `Bearer ${adminToken}` };
  const tag = randomBytes(2).toString('hex');
  const newCourse = fourCreditCourses(url, admin, tag);
  const morning = [{ days: 'MWF', start: '09:00', end: '09:50' }];
  const sectionA = await newCourse('CALC-A', 1, morning);
  const sectionB = await newCourse('CALC-B', 1, morning);
  const sectionC = await newCourse('CALC-C', 1, morning);
  const request = (who, courseId, suffix, swapFor) => ({
    student_id: who,
    course_id: courseId,
    idempotency_key: `swap-${tag}-${suffix}`,
    ...(swapFor ? { swap_for: swapFor } : {}),
  });
  const show = (r) =>
    `${r.student_id} ${r.status}${r.reason ? ` (${r.reason})` : ''}${r.waitlist_position ? ` #${r.waitlist_position}` : ''}`;
  const get = (key) => call(url, 'GET', `/enrollments/${encodeURIComponent(key)}`);
  const txidOf = async (courseId, key, types) =>
    (await readEvents(url, admin, courseId)).events.find(
      (e) => e.idempotency_key === key && types.includes(e.type),
    )?.txid;
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok, detail });

  console.log('\nSwaps: three sections of one course, MWF 09:00, one seat each, 4 credits');
  const ana = `s-ana-${tag}`;
  const ben = `s-ben-${tag}`;
  const anaA = await enrollAndWait(url, request(ana, sectionA, 'ana-a'));
  const benA = await enrollAndWait(url, request(ben, sectionA, 'ben-a'));
  console.log(`  CALC-A: ${show(anaA)}; ${show(benA)}`);
  const anaB = await enrollAndWait(url, request(ana, sectionB, 'ana-b', anaA.idempotency_key));
  const [anaAfter, benAfter] = await Promise.all([get(anaA.idempotency_key), get(benA.idempotency_key)]);
  const txids = [
    await txidOf(sectionB, anaB.idempotency_key, ['enrolled']),
    await txidOf(sectionA, anaA.idempotency_key, ['dropped']),
    await txidOf(sectionA, benA.idempotency_key, ['promoted']),
  ];
  console.log(
    `  ${ana} swaps CALC-A for CALC-B (a seat is free): CALC-B ${show(anaB)}; CALC-A ${show(anaAfter)}, ` +
      `${show(benAfter)}; one commit: txid ${[...new Set(txids)].join(', ')}`,
  );
  check(
    'an immediate swap: the new seat, the old one dropped (swapped) and its head promoted in one commit',
    anaB.status === 'enrolled' &&
      anaAfter.reason === 'swapped' &&
      benAfter.status === 'enrolled' &&
      txids[0] != null &&
      new Set(txids).size === 1,
    `txids ${txids.join(', ')}`,
  );

  const cara = `s-cara-${tag}`;
  const caraC = await enrollAndWait(url, request(cara, sectionC, 'cara-c'));
  const anaWaits = await enrollAndWait(url, request(ana, sectionC, 'ana-c', anaB.idempotency_key));
  const second = await post(url, '/enroll', request(ana, sectionA, 'ana-a2', anaB.idempotency_key));
  console.log(
    `  ${ana} asks to swap CALC-B for the full CALC-C: ${show(anaWaits)}, still holding CALC-B; ` +
      `a second swap naming CALC-B → ${second.status}: ${second.body.message}`,
  );
  check(
    'a waiting swap keeps what it gives up; a second swap naming it is refused',
    anaWaits.status === 'waitlisted' &&
      (await get(anaB.idempotency_key)).status === 'enrolled' &&
      second.status === 409,
    `${show(anaWaits)}; second swap ${second.status}`,
  );
  await call(url, 'DELETE', `/enrollments/${encodeURIComponent(caraC.idempotency_key)}`);
  const [anaC, anaBAfter] = await Promise.all([get(anaWaits.idempotency_key), get(anaB.idempotency_key)]);
  const promotedTx = await txidOf(sectionC, anaWaits.idempotency_key, ['promoted']);
  const droppedTx = await txidOf(sectionB, anaB.idempotency_key, ['dropped']);
  const schedule = await call(url, 'GET', `/students/${ana}/schedule`);
  console.log(
    `  ${cara} drops CALC-C → CALC-C ${show(anaC)}; CALC-B ${show(anaBAfter)}; txid ${promotedTx} / ${droppedTx}; ` +
      `${ana} holds ${schedule.enrolled.map((r) => (r.course_id === sectionC ? 'CALC-C' : r.course_id)).join(', ')}`,
  );
  check(
    'a waiting swap happens in the transaction of the promotion: never both, never neither',
    anaC.status === 'enrolled' &&
      anaBAfter.reason === 'swapped' &&
      promotedTx != null &&
      promotedTx === droppedTx &&
      schedule.enrolled.length === 1,
    `txid ${promotedTx} / ${droppedTx}; ${schedule.enrolled.length} enrolled`,
  );
  printChecks('Swap checks', checks);
  return checks.every((c) => c.ok);
}

// ------------------------------------------------------------ offers: a held seat, a decline, an accept

/**
 * CONTRACT v3 "Offers": a course in offer mode holds a freed seat for the first waiting student instead of
 * enrolling them; a newcomer is kept out of the held seat; a decline hands it to the next in the same
 * transaction; an accept enrolls.
 */
async function offers(url, adminToken) {
  const admin = { authorization: `Bearer ${adminToken}` };
  const tag = randomBytes(2).toString('hex');
  const id = (
    await call(url, 'POST', '/courses', {
      body: { code: `SEM-${tag}`, title: 'Seminar', capacity: 1, waitlist_mode: 'offer', offer_ttl_s: 86400 },
      headers: admin,
    })
  ).id;
  const request = (who) => ({
    student_id: `${who}-${tag}`,
    course_id: id,
    idempotency_key: `offer-${tag}-${who}`,
  });
  const show = (r) =>
    `${r.student_id} ${r.status}${r.reason ? ` (${r.reason})` : ''}${r.waitlist_position ? ` #${r.waitlist_position}` : ''}` +
    `${r.offer_expires_at ? ` until ${r.offer_expires_at}` : ''}`;
  const get = (key) => call(url, 'GET', `/enrollments/${encodeURIComponent(key)}`);
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok, detail });

  console.log('\nOffers: SEM (1 seat, waitlist_mode offer, offers stand 24 h)');
  const holder = await enrollAndWait(url, request('s-holder'));
  const dana = await enrollAndWait(url, request('s-dana'));
  const eli = await enrollAndWait(url, request('s-eli'));
  console.log(`  ${show(holder)}; ${show(dana)}; ${show(eli)}`);
  await call(url, 'DELETE', `/enrollments/${encodeURIComponent(holder.idempotency_key)}`);
  const offered = await get(dana.idempotency_key);
  const seminar = await call(url, 'GET', `/courses/${id}`);
  const newcomer = await enrollAndWait(url, request('s-newcomer'));
  console.log(
    `  the holder drops → ${show(offered)}; seats held ${seminar.seats_held}, available ${seminar.seats_available}; ` +
      `a newcomer → ${show(newcomer)}`,
  );
  check(
    'a freed seat is held for the first waiting student, and a newcomer cannot take it',
    offered.status === 'offered' && seminar.seats_held === 1 && newcomer.status === 'waitlisted',
    `${show(offered)}; newcomer ${newcomer.status}`,
  );
  const declined = await call(url, 'DELETE', `/enrollments/${encodeURIComponent(dana.idempotency_key)}`);
  const eliOffered = await get(eli.idempotency_key);
  const events = (await readEvents(url, admin, id)).events;
  const declineTx = events.find(
    (e) => e.idempotency_key === dana.idempotency_key && e.type === 'dropped',
  )?.txid;
  const offerTx = events.find((e) => e.idempotency_key === eli.idempotency_key && e.type === 'offered')?.txid;
  console.log(
    `  ${dana.student_id} declines (${declined.reason}) → ${show(eliOffered)}; txid ${declineTx} / ${offerTx}`,
  );
  check(
    'a decline offers the seat to the next in the same transaction',
    declined.reason === 'declined' &&
      eliOffered.status === 'offered' &&
      declineTx != null &&
      declineTx === offerTx,
    `txid ${declineTx} / ${offerTx}`,
  );
  const accepted = await call(url, 'POST', `/enrollments/${encodeURIComponent(eli.idempotency_key)}/accept`);
  const after = await call(url, 'GET', `/courses/${id}`);
  console.log(
    `  ${eli.student_id} accepts → ${show(accepted)}; seats taken ${after.seats_taken}, held ${after.seats_held}`,
  );
  check(
    'an accept enrolls, the held seat becomes taken',
    accepted.status === 'enrolled' && after.seats_taken === 1 && after.seats_held === 0,
    `${show(accepted)}; ${after.seats_taken} taken, ${after.seats_held} held`,
  );
  printChecks('Offer checks', checks);
  return checks.every((c) => c.ok);
}

// ------------------------------------------------------------ a fair opening: a draw, and a bot that sends first

const OPENING_SEATS = 10;
const BOTS = 10; // a bot farm: each sends first, with three keys
const HONEST = 60;

/**
 * CONTRACT v3 "Fair opening", guarantee 4 as amended: two courses open to the same arrivals, bots first
 * (three keys each) and then honest students: one served first come, first served, one with an opening
 * draw. The draw's seed hash is published before, the seed after; its order is recomputed here from public
 * data, as `npm run verify-draw` does.
 */
async function opening(url, adminToken) {
  const admin = { authorization: `Bearer ${adminToken}` };
  const tag = randomBytes(2).toString('hex');
  const opensAt = new Date(Math.ceil((Date.now() + 4000) / 1000) * 1000);
  const windowS = 3;
  const create = async (code, extra) =>
    (
      await call(url, 'POST', '/courses', {
        body: {
          code: `${code}-${tag}`,
          title: code,
          capacity: OPENING_SEATS,
          opens_at: opensAt.toISOString(),
          ...extra,
        },
        headers: admin,
      })
    ).id;
  // Appointments first: a student whose time ticket opens tomorrow is refused today, queued nothing, and the
  // same key is accepted once an operator moves the ticket to now.
  const early = `s-senior-${tag}`;
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  await call(url, 'PUT', `/admin/appointments/${early}`, {
    body: { opens_at: tomorrow, closes_at: null },
    headers: admin,
  });
  const ticketCourse = await create('TICKET', { opens_at: null });
  const body = { student_id: early, course_id: ticketCourse, idempotency_key: `ticket-${tag}` };
  const refused = await fetch(`${url}/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...asClient() },
    body: JSON.stringify(body),
  });
  const refusedBody = await refused.json();
  const unknown = await fetch(`${url}/enrollments/${encodeURIComponent(body.idempotency_key)}`, {
    headers: asClient(),
  });
  await call(url, 'PUT', `/admin/appointments/${early}`, {
    body: { opens_at: new Date(Date.now() - 1000).toISOString(), closes_at: null },
    headers: admin,
  });
  const accepted = await enrollAndWait(url, body);
  console.log(`\nAppointments: ${early}'s registration appointment opens tomorrow`);
  console.log(
    `  POST /enroll → ${refused.status} "${refusedBody.message}"; the key is unknown (${unknown.status})`,
  );
  console.log(`  the operator moves the appointment to now → the same key: ${accepted.status}`);
  const ticketOk = refused.status === 409 && unknown.status === 404 && accepted.status === 'enrolled';
  const fcfs = await create('FCFS', { opens_at: null });
  const drawn = await create('DRAW', { draw_window_s: windowS, prequeue_s: 5 });
  const published = await call(url, 'GET', `/courses/${drawn}/draw`);
  console.log(
    `\nA fair opening: two courses of ${OPENING_SEATS} seats, FCFS (first come, first served) and DRAW ` +
      `(draw_window_s ${windowS}, prequeue_s 5: entries from ${published.starts_at} to ${published.ends_at})`,
  );
  console.log(`  DRAW's seed is secret; its SHA-256 is published now: ${published.seed_sha256}`);
  const bots = Array.from({ length: BOTS }, (_, i) => `s-bot${i}-${tag}`);
  const honest = Array.from({ length: HONEST }, (_, i) => `s-${String(i).padStart(3, '0')}-${tag}`);
  const bodies = (courseId) => [
    ...bots.flatMap((student) =>
      [1, 2, 3].map((k) => ({
        student_id: student,
        course_id: courseId,
        idempotency_key: `${student}-${courseId}-k${k}`,
      })),
    ),
    ...honest.map((student) => ({
      student_id: student,
      course_id: courseId,
      idempotency_key: `${student}-${courseId}`,
    })),
  ];
  const send = async (list) => {
    // The bots' requests all go first and at once; the students' follow.
    const botCount = BOTS * 3;
    await Promise.all(list.slice(0, botCount).map((body) => call(url, 'POST', '/enroll', { body })));
    await Promise.all(list.slice(botCount).map((body) => call(url, 'POST', '/enroll', { body })));
  };
  await Promise.all([send(bodies(fcfs)), send(bodies(drawn))]);
  console.log(
    `  ${BOTS} bots sent 3 keys each the moment each course opened, then ${HONEST} students sent one each ` +
      `(${bodies(drawn).length} requests per course)`,
  );
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok, detail });
  const stillQueued = await Promise.all(
    bodies(drawn)
      .slice(0, 5)
      .map((body) => call(url, 'GET', `/enrollments/${encodeURIComponent(body.idempotency_key)}`)),
  );
  check(
    'no draw entry is decided before the period ends',
    Date.now() < Date.parse(published.ends_at) ? stillQueued.every((r) => r.status === 'queued') : true,
    `${stillQueued.filter((r) => r.status === 'queued').length} of 5 sampled entries still queued before ${published.ends_at}`,
  );
  let draw = published;
  for (
    const deadline = Date.now() + 60_000;
    draw.state !== 'drawn' && Date.now() < deadline;
    await sleep(200)
  ) {
    draw = await call(url, 'GET', `/courses/${drawn}/draw`);
  }
  const read = async (courseId) => {
    const keys = bodies(courseId).map((body) => body.idempotency_key);
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(200)) {
      const requests = await Promise.all(
        keys.map((key) => call(url, 'GET', `/enrollments/${encodeURIComponent(key)}`)),
      );
      if (requests.every((r) => r.status !== 'queued')) return requests;
    }
    throw new Error(`course ${courseId}: requests still queued after 60 s`);
  };
  const [fcfsRequests, drawnRequests] = await Promise.all([read(fcfs), read(drawn)]);
  const botSeats = (requests) =>
    requests.filter((r) => r.status === 'enrolled' && r.student_id.startsWith('s-bot')).length;
  const seedOk =
    createHash('sha256')
      .update(draw.seed ?? '')
      .digest('hex') === published.seed_sha256;
  console.log(
    `  drawn: ${draw.entries} entries; seed revealed ${draw.seed} (its SHA-256 matches: ${seedOk})`,
  );
  const byKey = new Map(drawnRequests.map((r) => [r.idempotency_key, r]));
  const ticket = (student) => createHmac('sha256', draw.seed).update(`${drawn}:${student}`).digest('hex');
  const recomputed = [...drawnRequests]
    .sort(
      (a, b) =>
        b.priority - a.priority ||
        ticket(a.student_id).localeCompare(ticket(b.student_id)) ||
        a.requested_at.localeCompare(b.requested_at) ||
        a.draw_rank - b.draw_rank,
    )
    .map((r) => r.idempotency_key);
  console.log(
    `  the first places: ${draw.order
      .slice(0, 5)
      .map((key) => `#${byKey.get(key).draw_rank} ${byKey.get(key).student_id} ${byKey.get(key).status}`)
      .join(', ')}, …`,
  );
  const fcfsShare = botSeats(fcfsRequests);
  const drawShare = botSeats(drawnRequests);
  console.log(
    `  the bots hold ${fcfsShare} of ${OPENING_SEATS} seats first come, first served (${Math.round((fcfsShare / OPENING_SEATS) * 100)}%), ` +
      `${drawShare} of ${OPENING_SEATS} with the draw (${Math.round((drawShare / OPENING_SEATS) * 100)}%; ` +
      `their share of the students: ${Math.round((BOTS / (BOTS + HONEST)) * 100)}%)`,
  );
  const extraKeys = drawnRequests.filter(
    (r) => r.student_id.startsWith('s-bot') && !r.idempotency_key.endsWith('-k1'),
  );
  const extraReasons = [...new Set(extraKeys.map((r) => r.reason))];
  console.log(`  the bots' ${extraKeys.length} extra keys: ${extraReasons.join(', ')}`);
  check(
    'the published seed matches its hash, and the order recomputed from it is the published order',
    seedOk && recomputed.join() === draw.order.join(),
    `${draw.entries} entries recomputed with HMAC-SHA256(seed, "<course>:<student>")`,
  );
  // In draw order, each student's first entry: the first OPENING_SEATS are enrolled, the rest wait.
  const firstEntries = draw.order
    .map((key) => byKey.get(key))
    .filter((r, i, all) => all.findIndex((other) => other.student_id === r.student_id) === i);
  check(
    'every entry shows its draw_rank, and the seats went to the first students in draw order',
    draw.order.every((key, i) => byKey.get(key).draw_rank === i + 1) &&
      firstEntries.every((r, i) => r.status === (i < OPENING_SEATS ? 'enrolled' : 'waitlisted')),
    `ranks 1..${draw.order.length}; the first ${OPENING_SEATS} students enrolled, the next ${firstEntries.length - OPENING_SEATS} waitlisted`,
  );
  check(
    'a bot that sends first no longer takes the seats; its extra keys end already_*',
    drawShare < OPENING_SEATS && extraReasons.every((reason) => /^already_/.test(reason ?? '')),
    `${drawShare} of ${OPENING_SEATS} (first come, first served: ${fcfsShare})`,
  );
  // What anyone can run against a live server: npm run verify-draw -- <base-url> <course-id>.
  console.log(`\n  npm run verify-draw -- ${url} ${drawn}`);
  const verified = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/verify-draw.mjs', url, String(drawn)], {
      env: { ...process.env, CLIENT_TOKEN: clientToken ?? '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) => resolve({ code, output }));
  });
  for (const line of verified.output.trimEnd().split('\n')) console.log(`    ${line}`);
  check('npm run verify-draw agrees on the real draw', verified.code === 0, `exit ${verified.code}`);
  check(
    'outside the appointment: 409 naming the time, nothing queued; the same key accepted once it opens',
    ticketOk,
    `${refused.status}, then ${accepted.status}`,
  );
  printChecks('Fair opening checks', checks);
  return checks.every((c) => c.ok);
}

// ------------------------------------------------------------ webhooks: the record, pushed

/** The longest wait between two tries on the demo's service (WEBHOOK_RETRY_MAX_MS; the default is a minute). */
const WEBHOOK_RETRY_MAX_MS = 2000;
const HOOK_SEATS = 5;
const HOOK_STUDENTS = 20;
/** The demo's receiver answers 500 to every third call, as `npm run watch -- --fail-every 3` does. */
const FAIL_EVERY = 3;
/** How long the receiver stays down. */
const OUTAGE_MS = 4000;

/**
 * Whether `CourseFlow-Signature: t=<unix s>,v1=<hex>` signs this raw body with the secret, as README.md
 * ("Webhooks") shows a receiver checking it: HMAC-SHA256(secret, "<t>.<raw body>") compared in constant
 * time, and t within 300 s of now.
 */
function signatureValid(secret, rawBody, header) {
  const { t, v1 } = Object.fromEntries(
    String(header ?? '')
      .split(',')
      .map((part) => part.split('=')),
  );
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(v1 ?? '', 'hex');
  const fresh = /^\d+$/.test(t ?? '') && Math.abs(Date.now() / 1000 - Number(t)) <= 300;
  return fresh && given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * A receiver on 127.0.0.1:<port>: verifies each call's signature over the raw body, dedupes by event.id
 * (`firsts`: each event once, in the order first taken), and answers 500 to every third call on purpose.
 * Every call is kept, in arrival order, with what it was answered.
 */
function webhookReceiver(secret, port) {
  const calls = [];
  const firsts = [];
  const seen = new Set();
  let server;
  const handle = (request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const valid = signatureValid(secret, rawBody, request.headers['courseflow-signature']);
      const number = calls.length + 1;
      let event;
      try {
        event = JSON.parse(rawBody).event;
      } catch {
        event = undefined;
      }
      const status = !valid || typeof event?.id !== 'string' ? 401 : number % FAIL_EVERY === 0 ? 500 : 200;
      const repeat = status === 200 && seen.has(event.id);
      const call = { number, event, valid, status, repeat, at: Date.now() };
      calls.push(call);
      if (status === 200 && !repeat) {
        seen.add(event.id);
        firsts.push(call);
      }
      response.writeHead(status).end(); // a repeat is answered 2xx too, or it comes again
    });
  };
  return {
    calls,
    firsts,
    url: `http://127.0.0.1:${port}/courseflow/events`,
    start: () =>
      new Promise((resolve, reject) => {
        server = createServer(handle);
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      }),
    // Kept-alive connections too, so the next try finds nobody listening (ECONNREFUSED).
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A figure from /metrics (Prometheus text) by its series, e.g. `name{result="rejected"}`; 0 if absent. */
async function metricValue(url, series) {
  const text = await (await fetch(`${url}/metrics`, { headers: asClient() })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/**
 * CONTRACT v3 "Webhooks": a receiver registered for a new course gets every event of its record signed,
 * in commit order (a later one not sent before the earlier one was answered 2xx), at least once: the
 * 500s it answers on purpose are tried again, and what piles up while it is down arrives, in order, once
 * it is back.
 */
async function webhooks(url, adminToken, { ownService }) {
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  if (!local) {
    console.log(`\nWebhooks: skipped (the demo's receiver listens on 127.0.0.1, which ${url} cannot reach)`);
    return true;
  }
  const admin = { authorization: `Bearer ${adminToken}` };
  const tag = randomBytes(2).toString('hex');
  const course = await call(url, 'POST', '/courses', {
    body: { code: `HOOK-${tag}`, title: 'Webhooks', capacity: HOOK_SEATS },
    headers: admin,
  });
  const secret = `whsec-demo-${randomBytes(12).toString('hex')}`;
  const receiver = webhookReceiver(secret, await freePort());
  await receiver.start();
  const before = new Set((await readEvents(url, admin, course.id)).events.map((e) => e.id));
  const webhook = await call(url, 'POST', '/admin/webhooks', {
    body: { url: receiver.url, secret, events: ['*'], course_id: course.id },
    headers: admin,
  });
  const deliveries = (state) =>
    call(url, 'GET', `/admin/webhooks/${webhook.id}/deliveries${state ? `?state=${state}` : ''}`, {
      headers: admin,
    });
  const started = Date.now();
  const request = (i) => ({
    student_id: `s-hook${String(i).padStart(2, '0')}-${tag}`,
    course_id: course.id,
    idempotency_key: `hook-${tag}-${i}`,
  });
  /** Until every event of the record is taken (once, with a 2xx) and nothing is left undelivered. */
  const caughtUp = async (deadlineMs) => {
    let record = [];
    for (const deadline = Date.now() + deadlineMs; Date.now() < deadline; await sleep(100)) {
      record = (await readEvents(url, admin, course.id)).events.filter((e) => !before.has(e.id));
      const taken = new Set(receiver.firsts.map((c) => c.event.id));
      if (record.every((e) => taken.has(e.id)) && (await deliveries()).length === 0) break;
    }
    return record;
  };
  const show = (e) =>
    `${e.id} ${e.type} ${e.student_id ?? '-'} ${e.status ?? ''}${e.waitlist_position ? ` #${e.waitlist_position}` : ''}`.trimEnd();
  const callLine = (c) => {
    const failedBefore = receiver.calls.findLast(
      (other) => other.number < c.number && other.event?.id === c.event?.id && other.status === 500,
    );
    return (
      `  call ${String(c.number).padStart(2)}  ${show(c.event).padEnd(40)} signature ${c.valid ? 'ok' : 'BAD'}` +
      ` → ${c.status}${c.status === 500 ? ` (every ${ordinal(FAIL_EVERY)} call, on purpose)` : ''}` +
      `${c.status === 200 && failedBefore ? `, retried after 500 (${((c.at - failedBefore.at) / 1000).toFixed(1)} s later)` : ''}${c.repeat ? ', a repeat (already had it)' : ''}`
    );
  };
  const showDelivery = (d) =>
    `${d.event.id} ${d.event.type} ${d.event.student_id ?? '-'}: attempts ${d.attempts}, ` +
    `last_error "${d.last_error}", next_attempt_at ${d.next_attempt_at}`;

  console.log(
    `\nWebhooks: a receiver on ${receiver.url} (verifies CourseFlow-Signature, dedupes by event.id, answers ` +
      `500 to every ${ordinal(FAIL_EVERY)} call)`,
  );
  console.log(
    `  POST /admin/webhooks {"events":["*"],"course_id":${course.id}} → ${webhook.id}; ` +
      (ownService
        ? `the service runs with WEBHOOK_RETRY_MAX_MS=${WEBHOOK_RETRY_MAX_MS}, so a failed try is repeated after 1 s, then 2 s at most (the default caps the wait at a minute)`
        : "the service's own WEBHOOK_RETRY_MAX_MS caps the waits between tries (default: a minute)"),
  );

  // While the stampede's events go out, look for a course held by a failed try.
  let failing = null;
  let watching = true;
  const watcher = (async () => {
    while (watching && failing === null) {
      const list = await deliveries('failing');
      if (list.length > 0) failing = list;
      else await sleep(100);
    }
  })();
  await Promise.all(
    Array.from({ length: HOOK_STUDENTS }, (_, i) => call(url, 'POST', '/enroll', { body: request(i) })),
  );
  const decided = await Promise.all(
    Array.from({ length: HOOK_STUDENTS }, async (_, i) => {
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(100)) {
        const r = await call(url, 'GET', `/enrollments/${encodeURIComponent(request(i).idempotency_key)}`);
        if (r.status !== 'queued') return r;
      }
      throw new Error(`request ${request(i).idempotency_key} was not decided within 30 s`);
    }),
  );
  const enrolled = decided
    .filter((r) => r.status === 'enrolled')
    .sort((a, b) => a.student_id.localeCompare(b.student_id));
  const drop = (r) => call(url, 'DELETE', `/enrollments/${encodeURIComponent(r.idempotency_key)}`);
  await drop(enrolled[0]);
  let record = await caughtUp(30_000);
  watching = false;
  await watcher;
  const counts = {};
  for (const e of record) counts[e.type] = (counts[e.type] ?? 0) + 1;
  console.log(
    `  ${HOOK_STUDENTS} students for ${HOOK_SEATS} seats at once, then ${enrolled[0].student_id} drops: ` +
      `${record.length} events (${Object.entries(counts)
        .map(([type, n]) => `${type} ${n}`)
        .join(', ')}), all received ${((Date.now() - started) / 1000).toFixed(1)} s after the first request`,
  );
  for (const c of receiver.calls.slice(0, 7)) console.log(callLine(c));
  console.log(`  … ${receiver.calls.length} calls for ${record.length} events`);
  console.log(
    failing
      ? `  caught while it waited: GET /admin/webhooks/${webhook.id}/deliveries?state=failing → ${showDelivery(failing[0])}`
      : '  (no failing delivery caught by GET …/deliveries?state=failing: each was retried between two looks)',
  );

  // The receiver goes away; what is committed meanwhile waits for it, in order.
  await receiver.stop();
  const downAt = Date.now();
  const downFrom = receiver.calls.length;
  await drop(enrolled[1]);
  await drop(enrolled[2]);
  console.log(
    `\n  the receiver stops for ${OUTAGE_MS / 1000} s; ${enrolled[1].student_id} and ${enrolled[2].student_id} drop meanwhile`,
  );
  let refused = [];
  for (const deadline = downAt + OUTAGE_MS; Date.now() < deadline; await sleep(200)) {
    const list = await deliveries('failing');
    if (list.some((d) => /ECONNREFUSED/.test(d.last_error ?? ''))) refused = list;
  }
  const pending = await deliveries('pending');
  const failingSeconds = await metricValue(
    url,
    `courseflow_webhook_failing_seconds{webhook_id="${webhook.id}"}`,
  );
  console.log(
    refused.length > 0
      ? `  GET …/deliveries?state=failing → ${showDelivery(refused[0])}`
      : '  GET …/deliveries?state=failing → no ECONNREFUSED caught',
  );
  console.log(
    `  GET …/deliveries?state=pending → ${pending.length} behind it (${pending.map((d) => d.event.id).join(', ')}); ` +
      `courseflow_webhook_failing_seconds{webhook_id="${webhook.id}"} ${failingSeconds.toFixed(1)}`,
  );

  await receiver.start();
  const backAt = Date.now();
  record = await caughtUp(30_000);
  const backlog = receiver.calls.slice(downFrom);
  console.log(
    `  the receiver is back: the backlog's first call ${(((backlog[0]?.at ?? backAt) - backAt) / 1000).toFixed(1)} s later, ` +
      `every event of it in commit order`,
  );
  for (const c of backlog) console.log(callLine(c));

  // The checks, against the course's record.
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok, detail });
  const taken = receiver.firsts.map((c) => c.event.id);
  const recordIds = record.map((e) => e.id);
  check(
    "every event of the course's record received (GET /courses/:id/events), once deduplicated",
    sameList([...taken].sort(), [...recordIds].sort()),
    `${recordIds.length} recorded, ${taken.length} received (${receiver.calls.filter((c) => c.repeat).length} repeats)`,
  );
  check(
    'every signature valid (HMAC-SHA256 over "<t>.<raw body>", t within 300 s)',
    receiver.calls.length > 0 && receiver.calls.every((c) => c.valid),
    `${receiver.calls.filter((c) => c.valid).length} of ${receiver.calls.length} calls`,
  );
  // Each call for an event must come after its predecessor in the record was answered 2xx.
  const previous = new Map(recordIds.map((id, i) => [id, recordIds[i - 1]]));
  const early = receiver.calls.filter((c) => {
    const before = previous.get(c.event?.id);
    return (
      before !== undefined &&
      !receiver.calls.some(
        (other) => other.number < c.number && other.event?.id === before && other.status === 200,
      )
    );
  });
  check(
    'commit order: first receipts in record order, none sent before the previous event was answered 2xx',
    sameList(taken, recordIds) && early.length === 0,
    early.length === 0
      ? `${taken.length} in order over ${receiver.calls.length} calls`
      : `sent early: ${early.map((c) => c.event.id).join(', ')}`,
  );
  const refusedCalls = receiver.calls.filter((c) => c.status === 500);
  const retried = refusedCalls.filter((c) =>
    receiver.calls.some(
      (other) => other.number > c.number && other.event?.id === c.event.id && other.status === 200,
    ),
  );
  check(
    'every 500 tried again until answered 2xx',
    refusedCalls.length > 0 && retried.length === refusedCalls.length,
    `${retried.length} of ${refusedCalls.length} answered 500 delivered later`,
  );
  check(
    'the outage: ECONNREFUSED shown as failing, the backlog delivered when the receiver came back',
    refused.length > 0 && backlog.length > 0 && backlog.every((c) => c.at >= backAt),
    `${refused[0]?.attempts ?? 0} refused tries, ${backlog.filter((c) => c.status === 200).length} deliveries after the restart`,
  );
  const left = await deliveries();
  check(
    'nothing left: GET …/deliveries is empty at the end',
    left.length === 0,
    `${left.length} undelivered`,
  );
  const rejected = await metricValue(url, 'courseflow_webhook_deliveries_total{result="rejected"}');
  const delivered = await metricValue(url, 'courseflow_webhook_deliveries_total{result="delivered"}');
  const unreachable = await metricValue(url, 'courseflow_webhook_deliveries_total{result="unreachable"}');
  check(
    '/metrics counts the rejected tries: courseflow_webhook_deliveries_total{result="rejected"} > 0',
    rejected > 0,
    `delivered ${delivered}, rejected ${rejected}, unreachable ${unreachable}`,
  );
  const removed = await fetch(`${url}/admin/webhooks/${webhook.id}`, { method: 'DELETE', headers: admin });
  await receiver.stop();
  console.log(
    `  DELETE /admin/webhooks/${webhook.id} → ${removed.status}; the section took ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  printChecks('Webhook checks', checks);
  return checks.every((c) => c.ok);
}

const ordinal = (n) => ({ 2: 'second', 3: 'third' })[n] ?? `${n}th`;

async function main() {
  const queuePrefix = `demo-${randomBytes(4).toString('hex')}`;
  let url = process.env.DEMO_URL;
  let adminToken = process.env.ADMIN_TOKEN;
  let databaseUrl = null;
  let live;
  try {
    if (!url) {
      await checkDependencies();
      databaseUrl = await freshDatabase();
      adminToken = randomBytes(16).toString('hex');
      clientToken = `demo-portal-${randomBytes(12).toString('hex')}`;
      made.queuePrefix = queuePrefix;
      url = await startService(databaseUrl, queuePrefix, adminToken);
    }
    const created = await post(
      url,
      '/courses',
      { code: `DEMO-${randomBytes(3).toString('hex')}`, title: 'The course everyone wants', capacity: SEATS },
      { authorization: `Bearer ${adminToken}` },
    );
    if (created.status !== 201)
      throw new Error(`course creation answered ${created.status}: ${JSON.stringify(created.body)}`);
    const courseId = created.body.id;
    live = await followLive(url, adminToken, courseId);
    const { answers, started } = await stampede(url, courseId);
    const acceptedKeys = [
      ...new Set(answers.filter((a) => a.status === 202).map((a) => a.request.idempotency_key)),
    ];
    const outcomes = await waitForDecisions(url, created.body.code, acceptedKeys);
    const checks = await checkInvariants({ url, databaseUrl, courseId, answers, outcomes });
    const stampedeOk = report({ answers, started, outcomes, checks });
    const lifecycleOk = await lifecycle(url, adminToken, courseId, acceptedKeys);
    const liveOk = await checkLive(url, adminToken, courseId, live, outcomes.size);
    const schedulesOk = await schedules(url, adminToken);
    const swapsOk = await swaps(url, adminToken);
    const offersOk = await offers(url, adminToken);
    const openingOk = await opening(url, adminToken);
    const webhooksOk = await webhooks(url, adminToken, { ownService: databaseUrl !== null });
    return (
      stampedeOk && lifecycleOk && liveOk && schedulesOk && swapsOk && offersOk && openingOk && webhooksOk
    );
  } finally {
    await Promise.all(live?.all.map((client) => client.close()) ?? []);
    await cleanUp();
  }
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  async (error) => {
    console.error(`demo failed: ${error.message}`);
    await cleanUp();
    process.exit(1);
  },
);
