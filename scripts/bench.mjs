// npm run bench: CourseFlow's speed and memory, side by side with the floors it is compared to.
// Starts the built service (dist/main.js) as child processes against the local PostgreSQL and Redis, in
// its own database and Redis key prefix, and prints a Markdown table. Each figure is the median of
// BENCH_RUNS runs (3). BENCH_SCALE=smoke runs a tiny load once (used by the test suite).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ADMIN_DATABASE_URL, databaseUrl, deleteRedisKeys, freePort, REDIS, withClient } from './kit.mjs';

const SMOKE = process.env.BENCH_SCALE === 'smoke';
const RUNS = Number(process.env.BENCH_RUNS ?? (SMOKE ? 1 : 3));
const SCALE = SMOKE
  ? {
      acceptSeconds: 1,
      hotRequests: 200,
      hotSeats: 100,
      spreadRequests: 300,
      spreadCourses: 20,
      naiveTransactions: 100,
    }
  : {
      acceptSeconds: 10,
      hotRequests: 20_000,
      hotSeats: 10_000,
      spreadRequests: 50_000,
      spreadCourses: 1_000,
      naiveTransactions: 5_000,
    };
const CONNECTIONS = 64;
// Per run, so two benchmarks (or a benchmark and a test run) on one server never drop each other's.
const DATABASE = `courseflow_bench_${process.pid}`;
const ADMIN_TOKEN = `bench-${randomBytes(8).toString('hex')}`;

const children = new Set();
process.on('exit', () => children.forEach((child) => child.kill('SIGKILL')));
process.on('SIGINT', () => process.exit(130));

// ---------------------------------------------------------------- infrastructure

/** A fresh database and Redis prefix for one measurement. */
async function freshWorld() {
  await withClient(ADMIN_DATABASE_URL, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${DATABASE}`);
  });
  return { url: databaseUrl(DATABASE), prefix: `bench-${randomBytes(4).toString('hex')}` };
}

function dropWorld(world) {
  return deleteRedisKeys(`${world.prefix}:*`);
}

/** Peak resident set size of a process so far (Linux VmHWM), in MiB. */
function peakRssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

async function startProcess(args, env, readyPath) {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, NODE_OPTIONS: '', ...env, SERVER_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited early: ${stderr}`);
    const answer = await fetch(url + readyPath, { method: readyPath === '/enroll' ? 'POST' : 'GET' }).catch(
      () => null,
    );
    if (answer && answer.status < 500) break;
    if (Date.now() > deadline) throw new Error(`${args.join(' ')} never became ready: ${stderr}`);
    await sleep(100);
  }
  return {
    url,
    peakRssMiB: () => peakRssMiB(child.pid),
    async stop() {
      child.kill('SIGTERM');
      await exited;
      children.delete(child);
    },
  };
}

/** The node flags `npm start` runs the service with (heap bounds), so the figures are for that process. */
const START_FLAGS = /^node (.*)dist\/main\.js$/
  .exec(JSON.parse(readFileSync('package.json', 'utf8')).scripts.start)[1]
  .trim()
  .split(/\s+/)
  .filter(Boolean);

function startCourseFlow(world, role, extra = {}) {
  return startProcess(
    [...START_FLAGS, 'dist/main.js'],
    {
      DATABASE_URL: world.url,
      QUEUE_PREFIX: world.prefix,
      REDIS_HOST: REDIS.host,
      REDIS_PORT: String(REDIS.port),
      ADMIN_TOKEN,
      ROLE: role,
      LOG_LEVEL: 'warn',
      RUN_MIGRATIONS: 'true',
      ...extra,
    },
    '/ready',
  );
}

async function createCourse(url, capacity) {
  const response = await fetch(`${url}/courses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ code: `B${randomBytes(5).toString('hex')}`, title: 'Benchmark', capacity }),
  });
  if (response.status !== 201) throw new Error(`course creation failed: ${response.status}`);
  return (await response.json()).id;
}

/** Drives POST /enroll with autocannon; every request is a new student and key. */
async function load(url, { courseIds, duration, amount }) {
  let sequence = 0;
  const run = randomBytes(3).toString('hex');
  const result = await autocannon({
    url: `${url}/enroll`,
    method: 'POST',
    connections: CONNECTIONS,
    ...(duration ? { duration } : { amount }),
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest(request) {
          sequence += 1;
          const courseId = courseIds[sequence % courseIds.length];
          return {
            ...request,
            body: JSON.stringify({
              student_id: `b${run}-${sequence}`,
              course_id: courseId,
              idempotency_key: `${run}-${sequence}`,
            }),
          };
        },
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    answered: result.requests.total,
    failed: result.non2xx + result.errors,
    // What failed, for the error message: answers by status class, socket errors, timeouts.
    failures: `${result['4xx']} 4xx, ${result['5xx']} 5xx, ${result.errors} errors (${result.timeouts} timeouts)`,
  };
}

/** Waits until `count` decisions exist, then measures first-to-last decision rate. */
async function decisionsPerSecond(world, count, timeoutMs = 600_000) {
  return withClient(world.url, async (client) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM decisions');
      if (rows[0].n >= count) break;
      if (Date.now() > deadline)
        throw new Error(`only ${rows[0].n} of ${count} decisions after ${timeoutMs} ms`);
      await sleep(100);
    }
    const { rows } = await client.query(
      `SELECT count(*)::int AS n, EXTRACT(EPOCH FROM max(decided_at) - min(decided_at))::float AS seconds FROM decisions`,
    );
    const { rows: invalid } = await client.query(
      `SELECT count(*)::int AS n FROM courses c
        WHERE seats_taken > capacity OR seats_taken <> (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id)`,
    );
    if (invalid[0].n > 0) throw new Error(`${invalid[0].n} courses broke the capacity invariant`);
    return rows[0].n / Math.max(rows[0].seconds, 0.001);
  });
}

// ---------------------------------------------------------------- phases

async function acceptPhase() {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const courseId = await createCourse(api.url, 100_000);
  const ours = await load(api.url, { courseIds: [courseId], duration: SCALE.acceptSeconds });
  const apiRss = api.peakRssMiB();
  await api.stop();
  await dropWorld(world);

  const echo = await startProcess(['--import', 'tsx', 'bench/bare-echo.ts'], {}, '/enroll');
  const floor = await load(echo.url, { courseIds: [1], duration: SCALE.acceptSeconds });
  await echo.stop();
  if (ours.failed > 0) throw new Error(`${ours.failed} accept requests failed: ${ours.failures}`);
  return { ours, floor, apiRss };
}

/** The row-lock baseline: one transaction per request (lock, bump, insert), in a tight pg loop. */
async function naiveRowLockLoop(world, courseId, transactions, clients = 8) {
  const connections = await Promise.all(
    Array.from({ length: clients }, async () => {
      const client = new pg.Client({ connectionString: world.url });
      await client.connect();
      return client;
    }),
  );
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    connections.map(async (client) => {
      while (next < transactions) {
        const n = next++;
        await client.query('BEGIN');
        const { rows } = await client.query(
          'SELECT capacity, seats_taken FROM courses WHERE id = $1 FOR UPDATE',
          [courseId],
        );
        const status = rows[0].seats_taken < rows[0].capacity ? 'enrolled' : 'waitlisted';
        await client.query(
          `INSERT INTO decisions (idempotency_key, student_id, course_id, priority, status, requested_at, decided_at)
           VALUES ($1, $2, $3, 0, $4, now(), now())`,
          [`naive-${n}`, `naive-${n}`, courseId, status],
        );
        if (status === 'enrolled') {
          await client.query(
            'INSERT INTO enrollments (course_id, student_id, idempotency_key) VALUES ($1, $2, $3)',
            [courseId, `naive-${n}`, `naive-${n}`],
          );
          await client.query('UPDATE courses SET seats_taken = seats_taken + 1 WHERE id = $1', [courseId]);
        }
        await client.query('COMMIT');
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // Client.end() resolves once the server has closed the connection. pg.Pool's end() resolves before that,
  // with the pool's error listener still on each closing client: the next phase's DROP DATABASE … WITH
  // (FORCE) could then reach a connection still closing, and its 57P01 crashed the bench (the CI flake).
  await Promise.all(connections.map((client) => client.end()));
  return transactions / seconds;
}

async function hotPhase() {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const courseId = await createCourse(api.url, SCALE.hotSeats);
  const queued = await load(api.url, { courseIds: [courseId], amount: SCALE.hotRequests });
  if (queued.failed > 0)
    throw new Error(`${queued.failed} requests failed while queueing: ${queued.failures}`);
  const apiRss = api.peakRssMiB();
  await api.stop();

  const worker = await startCourseFlow(world, 'worker', { RUN_MIGRATIONS: 'false' });
  const rate = await decisionsPerSecond(world, SCALE.hotRequests);
  const workerRss = worker.peakRssMiB();
  await worker.stop();

  const naiveCourse = await withClient(world.url, async (client) => {
    const { rows } = await client.query(
      `INSERT INTO courses (code, title, capacity) VALUES ('NAIVE', 'Row-lock baseline', $1) RETURNING id`,
      [SCALE.naiveTransactions],
    );
    return rows[0].id;
  });
  const naive = await naiveRowLockLoop(world, naiveCourse, SCALE.naiveTransactions);
  await dropWorld(world);
  return { rate, naive, apiRss, workerRss };
}

async function spreadPhase(workers) {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const courseIds = await withClient(world.url, async (client) => {
    const { rows } = await client.query(
      `INSERT INTO courses (code, title, capacity)
       SELECT 'S' || n, 'Spread ' || n, 30 FROM generate_series(1, $1) AS n RETURNING id`,
      [SCALE.spreadCourses],
    );
    return rows.map((row) => row.id);
  });
  const queued = await load(api.url, { courseIds, amount: SCALE.spreadRequests });
  if (queued.failed > 0)
    throw new Error(`${queued.failed} requests failed while queueing: ${queued.failures}`);
  const apiRss = api.peakRssMiB();
  await api.stop();

  const running = await Promise.all(
    Array.from({ length: workers }, () => startCourseFlow(world, 'worker', { RUN_MIGRATIONS: 'false' })),
  );
  const rate = await decisionsPerSecond(world, SCALE.spreadRequests);
  const workerRss = Math.max(...running.map((worker) => worker.peakRssMiB()));
  await Promise.all(running.map((worker) => worker.stop()));
  await dropWorld(world);
  return { rate, apiRss, workerRss };
}

// ---------------------------------------------------------------- report

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const fmt = (value, digits = 0) =>
  value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function versions() {
  const postgres = await withClient(
    ADMIN_DATABASE_URL,
    async (client) => (await client.query('SHOW server_version')).rows[0].server_version,
  );
  const redis = new Redis(REDIS);
  const info = await redis.info('server');
  redis.disconnect();
  const pkg = (name) => JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')).version;
  return {
    node: process.version,
    postgres,
    redis: /redis_version:(\S+)/.exec(info)[1],
    nest: pkg('@nestjs/core'),
    bullmq: pkg('bullmq'),
    typeorm: pkg('typeorm'),
  };
}

async function main() {
  if (!existsSync('dist/main.js'))
    throw new Error('dist/main.js is missing: run `npm run build` (npm run bench does)');
  const runs = { accept: [], hot: [], spread1: [], spread2: [] };
  for (let run = 1; run <= RUNS; run += 1) {
    console.error(`run ${run}/${RUNS}: accept`);
    runs.accept.push(await acceptPhase());
    console.error(`run ${run}/${RUNS}: allocate, hot course`);
    runs.hot.push(await hotPhase());
    console.error(`run ${run}/${RUNS}: allocate, spread, 1 worker`);
    runs.spread1.push(await spreadPhase(1));
    console.error(`run ${run}/${RUNS}: allocate, spread, 2 workers`);
    runs.spread2.push(await spreadPhase(2));
  }
  await withClient(ADMIN_DATABASE_URL, (client) =>
    client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`),
  );

  const m = (list, pick) => median(list.map(pick));
  const accept = {
    rps: m(runs.accept, (r) => r.ours.requestsPerSecond),
    p50: m(runs.accept, (r) => r.ours.p50),
    p99: m(runs.accept, (r) => r.ours.p99),
    floorRps: m(runs.accept, (r) => r.floor.requestsPerSecond),
    floorP99: m(runs.accept, (r) => r.floor.p99),
    rss: m(runs.accept, (r) => r.apiRss),
  };
  const hot = {
    rate: m(runs.hot, (r) => r.rate),
    naive: m(runs.hot, (r) => r.naive),
    apiRss: m(runs.hot, (r) => r.apiRss),
    workerRss: m(runs.hot, (r) => r.workerRss),
  };
  const spread1 = {
    rate: m(runs.spread1, (r) => r.rate),
    apiRss: m(runs.spread1, (r) => r.apiRss),
    workerRss: m(runs.spread1, (r) => r.workerRss),
  };
  const spread2 = {
    rate: m(runs.spread2, (r) => r.rate),
    apiRss: m(runs.spread2, (r) => r.apiRss),
    workerRss: m(runs.spread2, (r) => r.workerRss),
  };
  const v = await versions();

  const lines = [
    `Machine: ${os.cpus().length} cores (${os.cpus()[0].model.trim()}), ${fmt(os.totalmem() / 2 ** 30, 1)} GiB; ` +
      `Node ${v.node}, PostgreSQL ${v.postgres}, Redis ${v.redis}, NestJS ${v.nest}, BullMQ ${v.bullmq}, TypeORM ${v.typeorm}. ` +
      `Median of ${RUNS} run(s)${SMOKE ? ' (smoke scale: figures mean nothing)' : ''}; load generator on the same machine.`,
    '',
    '| Phase | CourseFlow | Compared with | Ratio | Target |',
    '| --- | --- | --- | --- | --- |',
    `| accept: POST /enroll, ${CONNECTIONS} connections, ${SCALE.acceptSeconds} s | ${fmt(accept.rps)} req/s, p50 ${accept.p50} ms, p99 ${accept.p99} ms | bare NestJS echo: ${fmt(accept.floorRps)} req/s, p99 ${accept.floorP99} ms | ${fmt(accept.rps / accept.floorRps, 2)}× | ≥ 0.8×, p99 ≤ 25 ms |`,
    `| allocate, hot course: ${fmt(SCALE.hotRequests)} requests, ${fmt(SCALE.hotSeats)} seats | ${fmt(hot.rate)} decisions/s | naive row-lock loop: ${fmt(hot.naive)} decisions/s | ${fmt(hot.rate / hot.naive, 2)}× | ≥ 5× |`,
    `| allocate, spread: ${fmt(SCALE.spreadRequests)} requests, ${fmt(SCALE.spreadCourses)} courses, 2 workers | ${fmt(spread2.rate)} decisions/s | 1 worker: ${fmt(spread1.rate)} decisions/s | ${fmt(spread2.rate / spread1.rate, 2)}× | ≥ 1.5× |`,
    '',
    '| Peak RSS (MiB) | API | Worker |',
    '| --- | --- | --- |',
    `| accept | ${fmt(accept.rss)} | – |`,
    `| allocate, hot course | ${fmt(hot.apiRss)} | ${fmt(hot.workerRss)} |`,
    `| allocate, spread, 1 worker | ${fmt(spread1.apiRss)} | ${fmt(spread1.workerRss)} |`,
    `| allocate, spread, 2 workers | ${fmt(spread2.apiRss)} | ${fmt(spread2.workerRss)} (each, max) |`,
  ];
  console.log(lines.join('\n'));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench failed: ${error.stack ?? error}`);
    process.exit(1);
  },
);
