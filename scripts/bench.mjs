// npm run bench: CourseFlow's speed and memory, side by side with the floors it is compared to, in one run.
// Starts the built service (dist/main.js) as child processes against the local PostgreSQL and Redis, in
// its own database and Redis key prefix, and prints Markdown tables. Each figure is the median of
// BENCH_RUNS runs (3) with their min–max. BENCH_SCALE=smoke runs a tiny load once (used by the test suite).
//
// The live events phase (BENCH_ONLY=websocket) holds 1,000 /ws subscribers on one API process through a
// 500-students-vs-30-seats stampede: delivery rate and latency, the API's memory, the accept rate with and
// without them, and that each subscriber received exactly its student's events.
//
// The webhooks phase (BENCH_ONLY=webhooks) measures the accept and decide rates with a webhook registered to a
// receiver in this process (one answering at once, one answering after 2 s) against none, and the delivery lag
// of a stampede's events to the fast one, every event checked received.
//
// The profile phase (first run only; BENCH_ONLY=profile) runs the accept stampede once more against the API
// and then the bare app under V8's CPU profiler, and charges their CPU to the parts of the accept path.
//
// The floors: a bare NestJS app answering 202 (accept), and the naive enrollment transaction (lock the
// course row, bump seats_taken, insert the enrollment; one transaction per request) run by pgbench with
// prepared statements and 8 clients, beside the same done by a Node loop of plain round trips.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { cpuShares } from './cpu-profile.mjs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  clusterNodeArgs,
  createRedisCluster,
  ADMIN_DATABASE_URL,
  comparableEvent,
  databaseUrl,
  DECISION_EVENT_TYPES,
  deleteRedisKeys,
  freePort,
  LiveClient,
  REDIS,
  withClient,
} from './kit.mjs';

const SMOKE = process.env.BENCH_SCALE === 'smoke';
const RUNS = Number(process.env.BENCH_RUNS ?? (SMOKE ? 1 : 3));
const SCALE = SMOKE
  ? {
      stampedeSeconds: 1,
      bursts: 2,
      burstSize: 100,
      spreadCourses: 20,
      baselineSeconds: 1,
      nodeLoopTransactions: 200,
      liveStudents: 10,
      liveAcceptSeconds: 1,
    }
  : {
      stampedeSeconds: 8,
      bursts: 20,
      burstSize: 500,
      spreadCourses: 500,
      baselineSeconds: 5,
      nodeLoopTransactions: 5_000,
      liveStudents: 500,
      liveAcceptSeconds: 5,
    };
const HOT_SEATS = 10_000;
const SPREAD_SEATS = 1_000;
const CONNECTIONS = 64;
// Per run, so two benchmarks (or a benchmark and a test run) on one server never drop each other's.
const DATABASE = `courseflow_bench_${process.pid}`;
const ADMIN_TOKEN = `bench-${randomBytes(8).toString('hex')}`;
/** The bench acts as the student portal, with a client token (CLIENT_TOKENS), as production runs. */
const CLIENT_TOKEN = `bench-portal-${randomBytes(12).toString('hex')}`;
const AS_CLIENT = { authorization: `Bearer ${CLIENT_TOKEN}` };

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

/** CPU time (user + system) a process has used so far, in ms (/proc/<pid>/stat, in USER_HZ: 100 on Linux). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The shared servers' pids: Redis tells its own; PostgreSQL's postmaster is the postgres without a postgres parent. */
async function serverPids() {
  const redis = new Redis(REDIS);
  try {
    const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))[1]);
    const stats = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .map((pid) => {
        try {
          const [head, rest] = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ');
          return { pid: Number(pid), comm: head.split(' (')[1], ppid: Number(rest.split(' ')[1]) };
        } catch {
          return null; // exited meanwhile
        }
      })
      .filter(Boolean);
    const postgres = new Set(stats.filter((s) => s.comm === 'postgres').map((s) => s.pid));
    const postmaster = stats.find((s) => postgres.has(s.pid) && !postgres.has(s.ppid))?.pid;
    return { redisPid, postmaster };
  } finally {
    redis.disconnect();
  }
}

/**
 * CPU ms the shared Redis and the whole PostgreSQL server have used so far. PostgreSQL runs a process per
 * connection: the postmaster's own time, its reaped children's (cutime, cstime), and its live children's.
 */
function serverCpuMs({ redisPid, postmaster }) {
  const fields = (pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const own = (f) => (Number(f[11]) + Number(f[12])) * 10;
  const master = fields(postmaster);
  let postgres = own(master) + (Number(master[13]) + Number(master[14])) * 10;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = fields(entry);
      if (Number(f[1]) === postmaster) postgres += own(f);
    } catch {
      // exited meanwhile: its time is in the postmaster's cutime once reaped
    }
  }
  return { redis: cpuMs(redisPid), postgres };
}

/** Starts measuring CPU: `stop(processes, count)` gives each process' and server's CPU ms per item counted. */
async function cpuMeter() {
  const pids = await serverPids();
  return {
    /** processes: { name: process with cpuMs() } measured from now (their own start excluded by the caller). */
    start(processes) {
      const own = Object.fromEntries(Object.entries(processes).map(([name, p]) => [name, p.cpuMs()]));
      const before = serverCpuMs(pids);
      return (count) => {
        const after = serverCpuMs(pids);
        const per = (ms) => ms / count;
        return {
          ...Object.fromEntries(
            Object.entries(processes).map(([name, p]) => [name, per(p.cpuMs() - own[name])]),
          ),
          redis: per(after.redis - before.redis),
          postgres: per(after.postgres - before.postgres),
        };
      };
    },
  };
}

/** Bytes the shared Redis holds for data now (INFO memory, used_memory). */
async function redisUsedMemory() {
  const redis = new Redis(REDIS);
  try {
    return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]);
  } finally {
    redis.disconnect();
  }
}

/** Peak resident set size of a process so far (Linux VmHWM), in MiB. */
function peakRssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

async function startProcess(args, env, readyPath, cwd = process.cwd()) {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    cwd,
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
    cpuMs: () => cpuMs(child.pid),
    /** Starts the peak over from the current RSS (Linux clear_refs 5); false where the kernel refuses. */
    resetPeakRss() {
      try {
        writeFileSync(`/proc/${child.pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    },
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

/**
 * BENCH_BEFORE: the directory of another checkout with its own dist/ (an earlier commit, built), whose hot
 * stampede is measured in the same run as this one's: "before and after" without the machine's drift.
 */
const BEFORE = process.env.BENCH_BEFORE ? path.resolve(process.env.BENCH_BEFORE) : undefined;
/** BENCH_ONLY: run only the phases whose names contain one of these comma-separated words (a quick look). */
const ONLY = process.env.BENCH_ONLY?.split(',').filter(Boolean);

function startCourseFlow(world, role, extra = {}, root = process.cwd(), nodeFlags = []) {
  return startProcess(
    [...START_FLAGS, ...nodeFlags, 'dist/main.js'],
    {
      DATABASE_URL: world.url,
      QUEUE_PREFIX: world.prefix,
      REDIS_HOST: REDIS.host,
      REDIS_PORT: String(REDIS.port),
      ADMIN_TOKEN,
      CLIENT_TOKENS: CLIENT_TOKEN,
      ROLE: role,
      LOG_LEVEL: 'warn',
      RUN_MIGRATIONS: 'true',
      ...extra,
    },
    '/ready',
    root,
  );
}

/**
 * Drives POST /enroll with autocannon, every request a new student and key: `connections` requests in
 * flight at any moment, for `duration` seconds or `amount` requests.
 */
async function load(url, { courseIds, duration, amount, connections = CONNECTIONS, overallRate }) {
  let sequence = 0;
  const run = randomBytes(3).toString('hex');
  const result = await autocannon({
    url: `${url}/enroll`,
    method: 'POST',
    connections,
    ...(duration ? { duration } : { amount }),
    ...(overallRate ? { overallRate } : {}),
    headers: { 'content-type': 'application/json', ...AS_CLIENT },
    requests: [
      {
        setupRequest(request) {
          sequence += 1;
          const courseId = courseIds[Math.floor(Math.random() * courseIds.length)];
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
  const failed = result.non2xx + result.errors;
  if (failed > 0)
    throw new Error(
      `${failed} requests failed: ${result['4xx']} 4xx, ${result['5xx']} 5xx, ${result.errors} errors (${result.timeouts} timeouts)`,
    );
  return {
    requestsPerSecond: result['2xx'] / (result.duration || duration || 1),
    p50: result.latency.p50,
    p99: result.latency.p99,
    accepted: result['2xx'],
  };
}

/** Bursts: `count` times, `size` requests sent at once, the next burst once the previous one is answered. */
async function bursts(url, courseIds, count, size) {
  let accepted = 0;
  for (let burst = 0; burst < count; burst += 1) {
    accepted += (await load(url, { courseIds, amount: size, connections: size })).accepted;
  }
  return { accepted };
}

/**
 * How many requests the world's API processes accepted, from the per-partition counters the API keeps in
 * Redis (autocannon does not count answers that arrive after its deadline).
 */
async function acceptedCount(world) {
  const redis = new Redis(REDIS);
  try {
    let total = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(
        cursor,
        'MATCH',
        `${world.prefix}:*:accepted-per-course`,
        'COUNT',
        1000,
      );
      cursor = next;
      for (const key of keys) for (const n of await redis.hvals(key)) total += Number(n);
    } while (cursor !== '0');
    return total;
  } finally {
    redis.disconnect();
  }
}

/**
 * Waits until `count` decisions exist (of one course, if `courseId` is given); the rate is from the first
 * decision to the last. Checks capacity.
 */
async function decisionsPerSecond(world, count, timeoutMs = 600_000, courseId = undefined) {
  const scope = courseId === undefined ? ['', []] : ['WHERE course_id = $1', [courseId]];
  return withClient(world.url, async (client) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM decisions ${scope[0]}`, scope[1]);
      if (rows[0].n >= count) break;
      if (Date.now() > deadline)
        throw new Error(`only ${rows[0].n} of ${count} decisions after ${timeoutMs} ms`);
      await sleep(50);
    }
    const { rows } = await client.query(
      `SELECT count(*)::int AS n, EXTRACT(EPOCH FROM max(decided_at) - min(decided_at))::float AS seconds,
              count(*) FILTER (WHERE decided_at = (SELECT max(decided_at) FROM decisions ${scope[0]}))::int AS last_batch,
              1000 * EXTRACT(EPOCH FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY decided_at - requested_at))::float AS wait_p50,
              1000 * EXTRACT(EPOCH FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY decided_at - requested_at))::float AS wait_p99
         FROM decisions ${scope[0]}`,
      scope[1],
    );
    const { rows: invalid } = await client.query(
      `SELECT count(*)::int AS n FROM courses c
        WHERE seats_taken > capacity OR seats_taken <> (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id)`,
    );
    if (invalid[0].n > 0) throw new Error(`${invalid[0].n} courses broke the capacity invariant`);
    if (rows[0].n !== count) throw new Error(`${rows[0].n} decisions for ${count} accepted requests`);
    return {
      // decided_at is its transaction's start, so first to last spans every transaction but the last.
      rate: rows[0].seconds > 0 ? (rows[0].n - rows[0].last_batch) / rows[0].seconds : rows[0].n / 0.001,
      waitP50: rows[0].wait_p50,
      waitP99: rows[0].wait_p99,
    };
  });
}

async function createCourses(world, count, capacity, tag, schedule) {
  return withClient(world.url, async (client) => {
    // Without a schedule, columns every build has (BENCH_BEFORE may predate credits and meetings).
    const { rows } = schedule
      ? await client.query(
          `INSERT INTO courses (code, title, capacity, credits, meetings)
           SELECT $3 || n, 'Benchmark ' || n, $2, $4, $5::jsonb FROM generate_series(1, $1) AS n RETURNING id`,
          [count, capacity, tag, schedule.credits, JSON.stringify(schedule.meetings)],
        )
      : await client.query(
          `INSERT INTO courses (code, title, capacity)
           SELECT $3 || n, 'Benchmark ' || n, $2 FROM generate_series(1, $1) AS n RETURNING id`,
          [count, capacity, tag],
        );
    return rows.map((row) => row.id);
  });
}

/**
 * Starts `count` worker processes on a queue filled already, and opens the queue once every one is ready:
 * otherwise the first worker up would drain while the others still boot, and the figure would measure
 * process start-up. The partition queues are paused meanwhile (BullMQ hands out nothing from a paused queue).
 */
async function startDrainingWorkers(world, count, root = process.cwd(), env = {}) {
  const queues = await partitionQueues(world);
  try {
    await Promise.all(queues.map((queue) => queue.pause()));
    const workers = await Promise.all(
      Array.from({ length: count }, () =>
        startCourseFlow(world, 'worker', { RUN_MIGRATIONS: 'false', ...env }, root),
      ),
    );
    await Promise.all(queues.map((queue) => queue.resume()));
    return workers;
  } finally {
    await Promise.all(queues.map((queue) => queue.close()));
  }
}

/** The world's partition queues (BullMQ handles; the caller closes them). */
async function partitionQueues(world) {
  // The service's default ALLOCATION_PARTITIONS; the bench does not change it.
  const { partitionQueueNames } = await import('../dist/queue/allocation-queue.contract.js');
  return partitionQueueNames(4).map(
    (name) => new Queue(name, { connection: { ...REDIS }, prefix: world.prefix }),
  );
}

// ---------------------------------------------------------------- the naive transaction

const run = promisify(execFile);

/**
 * pgbench, 8 clients, prepared statements: per transaction, a course drawn from courseIds (one row: the hot
 * course; many: spread) locked FOR UPDATE, its seats_taken bumped, one enrollment inserted.
 */
async function pgbenchNaive(world, courseIds, seconds) {
  await withClient(world.url, (client) => client.query('CREATE SEQUENCE IF NOT EXISTS naive_keys'));
  // Course ids are consecutive (created together); random() picks one per transaction.
  return pgbench(world, seconds, [
    `\\set course random(${Math.min(...courseIds)}, ${Math.max(...courseIds)})`,
    'BEGIN;',
    'SELECT capacity, seats_taken FROM courses WHERE id = :course FOR UPDATE;',
    'UPDATE courses SET seats_taken = seats_taken + 1 WHERE id = :course;',
    "INSERT INTO enrollments (course_id, student_id, idempotency_key) SELECT :course, 'naive-' || k, 'naive-' || k FROM nextval('naive_keys') AS k;",
    'END;',
  ]);
}

/** pgbench, 8 clients, prepared statements, for `seconds`: the script's transactions per second. */
async function pgbench(world, seconds, lines) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'courseflow-pgbench-'));
  const script = path.join(dir, 'naive.sql');
  writeFileSync(script, lines.join('\n'));
  try {
    const { stdout } = await run(
      'pgbench',
      ['-n', '-M', 'prepared', '-c', '8', '-j', '2', '-T', String(seconds), '-f', script, world.url],
      { env: { ...process.env, PGOPTIONS: '' } },
    );
    const tps = /tps = ([\d.]+)/.exec(stdout);
    if (!tps) throw new Error(`pgbench printed no tps:\n${stdout}`);
    return Number(tps[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same transaction as a Node loop: 8 plain clients, five unprepared round trips per transaction. */
async function nodeLoopNaive(world, courseIds, transactions, clients = 8) {
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
        const key = `loop-${next++}`;
        const courseId = courseIds[Math.floor(Math.random() * courseIds.length)];
        await client.query('BEGIN');
        await client.query('SELECT capacity, seats_taken FROM courses WHERE id = $1 FOR UPDATE', [courseId]);
        await client.query('UPDATE courses SET seats_taken = seats_taken + 1 WHERE id = $1', [courseId]);
        await client.query(
          'INSERT INTO enrollments (course_id, student_id, idempotency_key) VALUES ($1, $2, $2)',
          [courseId, key],
        );
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

/** Both naive baselines on `count` fresh courses of the world (1 = the hot row). */
async function naiveBaselines(world, count) {
  const courseIds = await createCourses(world, count, 100_000, `N${count}-`);
  return {
    pgbench: await pgbenchNaive(world, courseIds, SCALE.baselineSeconds),
    nodeLoop: await nodeLoopNaive(world, courseIds, SCALE.nodeLoopTransactions),
  };
}

// ---------------------------------------------------------------- phases

/** The floor, on the same node flags as the service (the heap bounds change the cost of garbage collection). */
function startBareApp(nodeFlags = []) {
  return startProcess([...START_FLAGS, ...nodeFlags, '--import', 'tsx', 'bench/bare-echo.ts'], {}, '/enroll');
}

async function bareApp() {
  const echo = await startBareApp();
  const cpuBefore = echo.cpuMs();
  const result = await load(echo.url, { courseIds: [1], duration: SCALE.stampedeSeconds });
  const cpuMsPerRequest = (echo.cpuMs() - cpuBefore) / result.accepted;
  await echo.stop();
  return { ...result, cpuMsPerRequest };
}

/**
 * The accept stampede once more with the API, then the bare app, under V8's CPU profiler: the share of each
 * one's busy CPU every part of the accept path took while the load ran (scripts/cpu-profile.mjs). Their
 * accept figures are not reported: the profiler slows a process.
 */
async function acceptProfile() {
  const world = await freshWorld();
  const api = await profiled(
    (flags) => startCourseFlow(world, 'api', {}, process.cwd(), flags),
    // The API's migrations have created the table by the time it is ready.
    () => createCourses(world, 1, HOT_SEATS, 'PROFILE'),
  );
  await dropWorld(world);
  const bare = await profiled(startBareApp, async () => [1]);
  return { api, bare };
}

/** The CPU shares of the process `start(nodeFlags)` starts, while it answers a stampede for `courses()`. */
async function profiled(start, courses) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'courseflow-profile-'));
  try {
    const server = await start(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    const courseIds = await courses();
    const microseconds = () => Number(process.hrtime.bigint() / 1000n);
    const from = microseconds();
    await load(server.url, { courseIds, duration: SCALE.stampedeSeconds });
    const to = microseconds();
    await server.stop();
    // One profile per thread (tsx runs a loader thread): the main thread's is the largest.
    const [file] = readdirSync(dir)
      .filter((name) => name.endsWith('.cpuprofile'))
      .map((name) => path.join(dir, name))
      .sort((a, b) => statSync(b).size - statSync(a).size);
    if (!file) throw new Error('no CPU profile was written');
    return cpuShares(file, from, to);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One hot course (10,000 seats): the queue is filled by the API alone with arrivals of the given shape, then
 * one worker process drains it. The stampede shape also gives the accept figures and the naive baselines.
 */
/**
 * Guarantee 8 switched on for the hot course: 4 credits and a weekly meeting, and limits in force for every
 * student, so each decision locks and reads the student's load and holdings (off: no credits, no meetings,
 * no limits, and the load rows are still locked and written).
 */
const LIMITS_ON = {
  course: { credits: 4, meetings: [{ days: 'MWF', start: '09:00', end: '09:50' }] },
  env: { DEFAULT_MAX_CREDITS: '18', DEFAULT_MAX_WAITLISTED: '5' },
};

async function hotCourse(shape, root = process.cwd(), limits = false) {
  const world = await freshWorld();
  // One request per job is what requests arriving one at a time make; ALLOCATION_BATCH_MAX=1 makes it at
  // stampede speed (a single connection fills a queue at ~300 requests/s here).
  const api = await startCourseFlow(
    world,
    'api',
    shape === 'one per job' ? { ALLOCATION_BATCH_MAX: '1' } : {},
    root,
  );
  const [courseId] = await createCourses(world, 1, HOT_SEATS, 'HOT', limits ? LIMITS_ON.course : undefined);
  const memoryBefore = await redisUsedMemory();
  const meter = await cpuMeter();
  const acceptCpu = meter.start({ api });
  const filled =
    shape === 'bursts'
      ? await bursts(api.url, [courseId], SCALE.bursts, SCALE.burstSize)
      : await load(api.url, { courseIds: [courseId], duration: SCALE.stampedeSeconds });
  const acceptCost = acceptCpu(await acceptedCount(world));
  const apiRss = api.peakRssMiB();
  await api.stop();
  // Requests in flight when the load stopped are answered during the API's graceful stop: count after.
  const accepted = await acceptedCount(world);

  const [worker] = await startDrainingWorkers(world, 1, root, limits ? LIMITS_ON.env : {});
  const decideCpu = meter.start({ worker });
  const queuedMemory = (await redisUsedMemory()) - memoryBefore;
  const { rate } = await decisionsPerSecond(world, accepted);
  const decideCost = decideCpu(accepted);
  const workerRss = worker.peakRssMiB();
  await worker.stop();
  // What stays once everything is decided: the claims, kept for IDEMPOTENCY_TTL_SECONDS.
  const decidedMemory = (await redisUsedMemory()) - memoryBefore;
  const naive = shape === 'stampede' && root === process.cwd() ? await naiveBaselines(world, 1) : undefined;
  await dropWorld(world);
  const redisBytes = { queued: queuedMemory / accepted, decided: decidedMemory / accepted };
  return { accept: filled, rate, naive, apiRss, workerRss, acceptCost, decideCost, redisBytes };
}

/**
 * fetch's own first requests are slow (undici compiling): measured from a cold client, the client's
 * start-up would pass for the API's. 600 requests to a throwaway local server warm it.
 */
async function warmClient() {
  const server = createServer((_request, response) => response.end('{}'));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/`;
  for (let round = 0; round < 2; round += 1) {
    await Promise.all(
      Array.from({ length: 600 }, () =>
        fetch(url, { method: 'POST', body: '{}' }).then((r) => r.arrayBuffer()),
      ),
    );
  }
  await new Promise((resolve) => server.close(resolve));
}

/**
 * 600 requests at once (500 students for 30 seats, then 100 of them sent again) against an API process
 * that has just become ready, then the same again on another course with the process warm: how long each
 * request waits for its answer (fetch's own connection included), p50 and p99 of the 600.
 */
async function coldBurst() {
  await warmClient();
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const [cold, warm] = await createCourses(world, 2, 30, 'BURST');
  const burst = async (courseId) => {
    const run = randomBytes(3).toString('hex');
    const send = async (n) => {
      const started = performance.now();
      const answer = await fetch(`${api.url}/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...AS_CLIENT },
        body: JSON.stringify({
          student_id: `c${run}-${n}`,
          course_id: courseId,
          idempotency_key: `${run}-${n}`,
        }),
      });
      await answer.arrayBuffer();
      if (answer.status !== 202 && answer.status !== 200) throw new Error(`burst: ${answer.status}`);
      return performance.now() - started;
    };
    const students = SMOKE ? 50 : 500;
    const times = await Promise.all(
      Array.from({ length: students + students / 5 }, (_, i) => send(i < students ? i : i - students)),
    );
    times.sort((a, b) => a - b);
    return { p50: times[Math.floor(times.length / 2)], p99: times[Math.floor(times.length * 0.99)] };
  };
  const first = await burst(cold);
  const second = await burst(warm);
  await api.stop();
  await dropWorld(world);
  return { cold: first, warm: second };
}

/** The stampede with a worker deciding while the API accepts: how long a student waits for the decision. */
async function hotLive() {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const worker = await startCourseFlow(world, 'worker', { RUN_MIGRATIONS: 'false' });
  const [courseId] = await createCourses(world, 1, HOT_SEATS, 'LIVE');
  const stampede = await load(api.url, { courseIds: [courseId], duration: SCALE.stampedeSeconds });
  // Requests still in flight when autocannon stops are answered during the API's graceful stop: count after.
  const apiRss = api.peakRssMiB();
  await api.stop();
  const decided = await decisionsPerSecond(world, await acceptedCount(world));
  const workerRss = worker.peakRssMiB();
  await worker.stop();
  await dropWorld(world);
  return { accept: stampede, waitP50: decided.waitP50, waitP99: decided.waitP99, apiRss, workerRss };
}

/** Stampede over many courses (1,000 seats each), then `workers` worker processes drain the queue. */
async function spread(workers) {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const courseIds = await createCourses(world, SCALE.spreadCourses, SPREAD_SEATS, 'SPREAD');
  const meter = await cpuMeter();
  const acceptCpu = meter.start({ api });
  await load(api.url, { courseIds, duration: SCALE.stampedeSeconds });
  const acceptCost = acceptCpu(await acceptedCount(world));
  const apiRss = api.peakRssMiB();
  await api.stop();
  const accepted = await acceptedCount(world);

  const running = await startDrainingWorkers(world, workers);
  const decideCpu = meter.start(Object.fromEntries(running.map((worker, i) => [`worker${i}`, worker])));
  const { rate } = await decisionsPerSecond(world, accepted);
  const perWorker = decideCpu(accepted);
  const decideCost = {
    worker: running.reduce((total, _, i) => total + perWorker[`worker${i}`], 0),
    redis: perWorker.redis,
    postgres: perWorker.postgres,
  };
  const workerRss = Math.max(...running.map((worker) => worker.peakRssMiB()));
  await Promise.all(running.map((worker) => worker.stop()));
  const naive = workers === 1 ? await naiveBaselines(world, SCALE.spreadCourses) : undefined;
  await dropWorld(world);
  return { rate, naive, apiRss, workerRss, acceptCost, decideCost };
}

// ---------------------------------------------------------------- Redis Cluster

/** A free port this bench has not handed out already. */
async function freePortNotIn(taken) {
  for (;;) {
    const port = await freePort();
    if (taken.has(port)) continue;
    taken.add(port);
    return port;
  }
}

/**
 * The accept phase on a Redis Cluster of this machine (three masters, three replicas, private, in a temp
 * dir), once with REDIS_WAIT_REPLICAS=0 and once with 1: what waiting for a replica costs a stampede.
 */
async function clusterAccept() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'courseflow-bench-cluster-'));
  const nodes = [];
  try {
    const taken = new Set();
    for (let i = 0; i < 6; i += 1) {
      const port = await freePortNotIn(taken);
      const busPort = await freePortNotIn(taken);
      const nodeDir = path.join(dir, String(port));
      mkdirSync(nodeDir);
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          nodeDir,
        ].concat(clusterNodeArgs(5000, busPort)),
        { stdio: 'ignore' },
      );
      children.add(child);
      nodes.push({ port, child });
    }
    await createRedisCluster(nodes.map((node) => node.port));
    const cluster = {
      REDIS_MODE: 'cluster',
      REDIS_NODES: nodes.map((node) => `127.0.0.1:${node.port}`).join(','),
    };
    const accept = async (waitReplicas) => {
      const world = await freshWorld();
      const api = await startCourseFlow(world, 'api', {
        ...cluster,
        REDIS_WAIT_REPLICAS: String(waitReplicas),
      });
      const [courseId] = await createCourses(world, 1, HOT_SEATS, `CLUSTER${waitReplicas}`);
      const result = await load(api.url, { courseIds: [courseId], duration: SCALE.stampedeSeconds });
      await api.stop();
      return result;
    };
    return { noWait: await accept(0), wait: await accept(1) };
  } finally {
    for (const { child } of nodes) {
      child.kill('SIGKILL');
      children.delete(child);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- offers: the expiry sweep's lag

const OFFER_COURSES = SMOKE ? 20 : 100;
const OFFERS_PER_COURSE = SMOKE ? 5 : 10;
const OFFER_WINDOW_S = SMOKE ? 5 : 60;

/** fetch() over the items with at most `limit` in flight; anything but `expected` fails the bench. */
async function callEach(items, limit, call, expected) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const item = items[next++];
        const answer = await call(item);
        if (answer.status !== expected) throw new Error(`answered ${answer.status}: ${await answer.text()}`);
        await answer.arrayBuffer().catch(() => undefined);
      }
    }),
  );
}

/**
 * Offer expiry lag (contract v3, Offers: at most 5 s late): OFFER_COURSES offer-mode courses, each full with
 * a waitlist as long; every holder drops, so every waiting request is offered its seat; the offers'
 * deadlines are then spread at random over OFFER_WINDOW_S seconds, and one worker process's sweep (every
 * second) expires them. The lag of each is its offer_expired event's transaction time minus its deadline.
 */
async function offerExpiry() {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const worker = await startCourseFlow(world, 'worker', { RUN_MIGRATIONS: 'false' });
  const courseIds = await createCourses(world, OFFER_COURSES, OFFERS_PER_COURSE, 'OFFER');
  await withClient(world.url, (client) =>
    client.query(`UPDATE courses SET waitlist_mode = 'offer' WHERE id = ANY($1)`, [courseIds]),
  );
  const run = randomBytes(3).toString('hex');
  const bodies = courseIds.flatMap((courseId) =>
    Array.from({ length: 2 * OFFERS_PER_COURSE }, (_, i) => ({
      student_id: `o${run}-${courseId}-${i}`,
      course_id: courseId,
      idempotency_key: `o${run}-${courseId}-${i}`,
    })),
  );
  const post = (body) =>
    fetch(`${api.url}/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...AS_CLIENT },
      body: JSON.stringify(body),
    });
  // Holders first, then the waiting, so each course's waitlist is exactly its seats long.
  await callEach(
    bodies.filter((_, i) => i % (2 * OFFERS_PER_COURSE) < OFFERS_PER_COURSE),
    16,
    post,
    202,
  );
  await decisionsPerSecond(world, OFFER_COURSES * OFFERS_PER_COURSE);
  await callEach(
    bodies.filter((_, i) => i % (2 * OFFERS_PER_COURSE) >= OFFERS_PER_COURSE),
    16,
    post,
    202,
  );
  await decisionsPerSecond(world, bodies.length);
  const holders = await withClient(
    world.url,
    async (client) =>
      (await client.query('SELECT idempotency_key FROM enrollments WHERE course_id = ANY($1)', [courseIds]))
        .rows,
  );
  await callEach(
    holders,
    16,
    (row) =>
      fetch(`${api.url}/enrollments/${encodeURIComponent(row.idempotency_key)}`, {
        method: 'DELETE',
        headers: AS_CLIENT,
      }),
    200,
  );
  const deadlines = await withClient(
    world.url,
    async (client) =>
      (
        await client.query(
          `UPDATE decisions SET offer_expires_at = clock_timestamp() + random() * make_interval(secs => $1)
          WHERE status = 'offered' RETURNING idempotency_key,
          (extract(epoch FROM offer_expires_at) * 1000)::float8 AS deadline`,
          [OFFER_WINDOW_S],
        )
      ).rows,
  );
  const keys = deadlines.map((row) => row.idempotency_key);
  const expired = await withClient(world.url, async (client) => {
    const until = Date.now() + (OFFER_WINDOW_S + 60) * 1000;
    for (;;) {
      const { rows } = await client.query(
        `SELECT idempotency_key, (extract(epoch FROM at) * 1000)::float8 AS at FROM course_changes
          WHERE type = 'offer_expired' AND idempotency_key = ANY($1)`,
        [keys],
      );
      if (rows.length === keys.length) return rows;
      if (Date.now() > until) throw new Error(`${keys.length - rows.length} offers never expired`);
      await sleep(500);
    }
  });
  await api.stop();
  await worker.stop();
  await dropWorld(world);
  const deadlineOf = new Map(deadlines.map((row) => [row.idempotency_key, row.deadline]));
  const lags = expired.map((row) => (row.at - deadlineOf.get(row.idempotency_key)) / 1000);
  return {
    offers: keys.length,
    lagP50: percentile(lags, 0.5),
    lagP99: percentile(lags, 0.99),
    lagMax: Math.max(...lags),
  };
}

// ---------------------------------------------------------------- the fair opening

const DRAW_ENTRIES = SMOKE ? 200 : 10_000;
const DRAW_SEATS = SMOKE ? 20 : 1_000;
/** The opening spike, with and without a prequeue: the same arrivals, at once or spread over PREQUEUE_S. */
const OPENING_ARRIVALS = SMOKE ? 200 : 10_000;
const OPENING_AT_ONCE = SMOKE ? 50 : 1_000;
const PREQUEUE_S = SMOKE ? 2 : 20;

/** A course with an opening draw, made through the API (the ledger draws its seed); resolves with its id. */
async function drawCourse(api, fields) {
  const answer = await fetch(`${api.url}/courses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ code: `DRAW${randomBytes(3).toString('hex')}`, title: 'Opening', ...fields }),
  });
  if (answer.status !== 201) throw new Error(`POST /courses: ${answer.status} ${await answer.text()}`);
  return (await answer.json()).id;
}

/**
 * A DRAW_ENTRIES-entry opening draw: the entries are accepted during a long prequeue (autocannon, unique
 * students), then the period is brought to an end 2 s ahead (in the database: the API's settings check
 * would refuse it once begun) and one worker process carries the draw out. Reported: the decide rate (as
 * the hot course's: first to last decision) and when the last entry was seen decided after the period
 * ended (polled every 20 ms).
 */
async function openingDraw() {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const courseId = await drawCourse(api, {
    capacity: DRAW_SEATS,
    opens_at: new Date(Date.now() + 3_600_000).toISOString(),
    draw_window_s: 60,
    prequeue_s: 7200,
  });
  const fill = await load(api.url, { courseIds: [courseId], amount: DRAW_ENTRIES });
  await api.stop();
  const worker = await startCourseFlow(world, 'worker', { RUN_MIGRATIONS: 'false' });
  const endsAt = await withClient(world.url, async (client) => {
    const { rows } = await client.query(
      `UPDATE courses SET opens_at = now() + interval '2 s' - make_interval(secs => draw_window_s) WHERE id = $1
       RETURNING (extract(epoch FROM opens_at + make_interval(secs => draw_window_s)) * 1000)::float8 AS ends`,
      [courseId],
    );
    return rows[0].ends;
  });
  const lastDecidedAfterEndS = await withClient(world.url, async (client) => {
    const deadline = Date.now() + 300_000;
    for (;;) {
      const { rows } = await client.query(
        'SELECT count(*)::int AS n, (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now FROM decisions',
      );
      if (rows[0].n >= DRAW_ENTRIES) return (rows[0].now - endsAt) / 1000;
      if (Date.now() > deadline) throw new Error(`only ${rows[0].n} of ${DRAW_ENTRIES} draw entries decided`);
      await sleep(20);
    }
  });
  const { rate } = await decisionsPerSecond(world, DRAW_ENTRIES);
  const workerRss = worker.peakRssMiB();
  await worker.stop();
  await dropWorld(world);
  return { entries: DRAW_ENTRIES, fill, rate, lastDecidedAfterEndS, workerRss };
}

/**
 * The opening spike, OPENING_ARRIVALS students on one course with a draw: without a prequeue they all
 * arrive when registration opens (OPENING_AT_ONCE requests in flight, as fast as the API answers); with a
 * prequeue of PREQUEUE_S they arrive spread over it (the same count, at OPENING_ARRIVALS / PREQUEUE_S per
 * second). Reported: the accept p99 and the API's peak RSS, each on a fresh API process.
 */
async function openingSpike(prequeue) {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const opensAt = Date.now() + (prequeue ? PREQUEUE_S * 1000 + 1000 : 1500);
  const courseId = await drawCourse(api, {
    capacity: DRAW_SEATS,
    opens_at: new Date(opensAt).toISOString(),
    draw_window_s: 3600,
    prequeue_s: prequeue ? PREQUEUE_S + 1 : 0,
  });
  await sleep(Math.max(0, opensAt - (prequeue ? (PREQUEUE_S + 1) * 1000 : 0) - Date.now() + 50));
  const accept = prequeue
    ? await load(api.url, {
        courseIds: [courseId],
        amount: OPENING_ARRIVALS,
        connections: CONNECTIONS,
        overallRate: Math.ceil(OPENING_ARRIVALS / PREQUEUE_S),
      })
    : await load(api.url, { courseIds: [courseId], amount: OPENING_ARRIVALS, connections: OPENING_AT_ONCE });
  const apiRss = api.peakRssMiB();
  await api.stop();
  await dropWorld(world);
  return { p50: accept.p50, p99: accept.p99, apiRss, accepted: accept.accepted };
}

// ---------------------------------------------------------------- the lifecycle: drops

const DROPS = SMOKE ? 20 : 100;
// Drops and swaps, idle and busy, each take enrolled requests of their own.
const DROP_SEATS = 4 * DROPS;

/** Keys of the course's enrolled requests (oldest first) once all `count` accepted requests are decided. */
async function enrolledKeys(world, courseId, count) {
  return (await enrolledRequests(world, courseId, count)).map((row) => row.key);
}

/** The course's enrolled requests (key and student, oldest first) once `count` requests are decided. */
async function enrolledRequests(world, courseId, count) {
  await decisionsPerSecond(world, count);
  return withClient(world.url, async (client) => {
    const { rows } = await client.query(
      'SELECT idempotency_key AS key, student_id AS student FROM enrollments WHERE course_id = $1 ORDER BY id',
      [courseId],
    );
    return rows;
  });
}

/**
 * Swaps out of the hot course one after another: each POST /enroll with swap_for names an enrolled request
 * of the hot course and asks for a seat in `courseId`; timed until GET shows it enrolled (the worker's
 * transaction also dropped the named request and promoted the hot course's head). Anything else fails.
 */
async function swapEach(url, courseId, held) {
  const times = [];
  for (const { key, student } of held) {
    const swapKey = `swap-${key}`;
    const started = performance.now();
    const answer = await fetch(`${url}/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...AS_CLIENT },
      body: JSON.stringify({
        student_id: student,
        course_id: courseId,
        idempotency_key: swapKey,
        swap_for: key,
      }),
    });
    if (answer.status !== 202) throw new Error(`swap ${swapKey}: ${answer.status} ${await answer.text()}`);
    for (;;) {
      const polled = await fetch(`${url}/enrollments/${encodeURIComponent(swapKey)}`, { headers: AS_CLIENT });
      const body = await polled.json();
      if (body.status === 'queued') {
        await sleep(1);
        continue;
      }
      times.push(performance.now() - started);
      if (body.status !== 'enrolled') throw new Error(`swap ${swapKey} ended ${JSON.stringify(body)}`);
      break;
    }
  }
  return times;
}

/** DELETEs the keys one after another; each answer's time in ms. Anything but 200 dropped fails the bench. */
async function dropEach(url, keys) {
  const times = [];
  for (const key of keys) {
    const started = performance.now();
    const answer = await fetch(`${url}/enrollments/${encodeURIComponent(key)}`, {
      method: 'DELETE',
      headers: AS_CLIENT,
    });
    const body = await answer.json();
    times.push(performance.now() - started);
    if (answer.status !== 200 || body.status !== 'dropped')
      throw new Error(`DELETE ${key}: ${answer.status} ${JSON.stringify(body)}`);
  }
  return times;
}

const percentile = (values, p) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))];

/**
 * A drop's latency (DELETE → 200, the waitlist head promoted in the same transaction), one drop at a time:
 * on the idle course, then while a stampede of POST /enroll hits the same course and a worker decides it.
 */
async function dropLatency() {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const worker = await startCourseFlow(world, 'worker', { RUN_MIGRATIONS: 'false' });
  const [courseId] = await createCourses(world, 1, DROP_SEATS, 'DROP');
  const [swapCourseId] = await createCourses(world, 1, 2 * DROPS, 'SWAPTO');
  const { accepted } = await load(api.url, { courseIds: [courseId], amount: DROP_SEATS * 4 });
  const held = await enrolledRequests(world, courseId, accepted);
  const keys = held.map((row) => row.key);
  // Drops and swaps alternate, so both meet the same load.
  const alternate = async (first) => {
    const drops = [];
    const swaps = [];
    for (let i = first; i < first + DROPS; i += 1) {
      drops.push(...(await dropEach(api.url, [keys[i]])));
      swaps.push(...(await swapEach(api.url, swapCourseId, [held[i + 2 * DROPS]])));
    }
    return { drops, swaps };
  };
  const { drops: idle, swaps: idleSwaps } = await alternate(0);
  const stampede = load(api.url, { courseIds: [courseId], duration: SCALE.stampedeSeconds });
  await sleep(500);
  const { drops: busy, swaps: busySwaps } = await alternate(DROPS);
  await stampede;
  await api.stop();
  await worker.stop();
  await dropWorld(world);
  return {
    idleP50: percentile(idle, 0.5),
    idleP99: percentile(idle, 0.99),
    busyP50: percentile(busy, 0.5),
    busyP99: percentile(busy, 0.99),
    swapIdleP50: percentile(idleSwaps, 0.5),
    swapIdleP99: percentile(idleSwaps, 0.99),
    swapBusyP50: percentile(busySwaps, 0.5),
    swapBusyP99: percentile(busySwaps, 0.99),
  };
}

/**
 * Drops per second on one hot course: every enrolled request of a full course with a long waitlist dropped
 * by 16 concurrent clients, each drop promoting the head. Compared with pgbench running the naive per-drop
 * transaction (lock the course, delete an enrollment, move the waitlist head into a seat) on its own course.
 */
async function dropThroughput() {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const worker = await startCourseFlow(world, 'worker', { RUN_MIGRATIONS: 'false' });
  const seats = SMOKE ? 200 : 2_000;
  const [courseId] = await createCourses(world, 1, seats, 'DROPS');
  const { accepted } = await load(api.url, { courseIds: [courseId], amount: seats * 3 });
  const keys = await enrolledKeys(world, courseId, accepted);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < keys.length) await dropEach(api.url, [keys[next++]]);
    }),
  );
  const rate = keys.length / ((performance.now() - started) / 1000);
  await api.stop();
  await worker.stop();
  const naive = await pgbenchNaiveDrops(world);
  await dropWorld(world);
  return { rate, naive };
}

/** pgbench, 8 clients: the naive drop on a course seeded with enough enrollments and waiting students. */
async function pgbenchNaiveDrops(world) {
  const seeded = SMOKE ? 5_000 : 60_000;
  const [courseId] = await createCourses(world, 1, seeded, 'NAIVE-DROPS');
  await withClient(world.url, async (client) => {
    await client.query('CREATE SEQUENCE IF NOT EXISTS naive_drops');
    await client.query(
      `INSERT INTO enrollments (course_id, student_id, idempotency_key)
       SELECT $1, 'nd-' || n, 'nd-' || n FROM generate_series(1, $2::int) AS n`,
      [courseId, seeded],
    );
    await client.query(
      `INSERT INTO waitlist_entries (course_id, student_id, idempotency_key, position)
       SELECT $1, 'nw-' || n, 'nw-' || n, n FROM generate_series(1, $2::int) AS n`,
      [courseId, seeded],
    );
    await client.query('UPDATE courses SET seats_taken = $2, waitlist_length = $2 WHERE id = $1', [
      courseId,
      seeded,
    ]);
  });
  return pgbench(world, SCALE.baselineSeconds, [
    'BEGIN;',
    `SELECT seats_taken FROM courses WHERE id = ${courseId} FOR UPDATE;`,
    "DELETE FROM enrollments WHERE idempotency_key = (SELECT 'nd-' || nextval('naive_drops'));",
    `WITH head AS (DELETE FROM waitlist_entries WHERE course_id = ${courseId} AND position = (SELECT min(position) FROM waitlist_entries WHERE course_id = ${courseId}) RETURNING student_id, idempotency_key) INSERT INTO enrollments (course_id, student_id, idempotency_key) SELECT ${courseId}, student_id, idempotency_key FROM head;`,
    'END;',
  ]);
}

// ---------------------------------------------------------------- live events (/ws)

/** Subscribers per stampede student: each student's events go to two connections. */
const SUBSCRIBERS_PER_STUDENT = 2;
const LIVE_SEATS = SMOKE ? 5 : 30;
/** WebSocket handshakes in flight at once while the subscribers connect (the API's listen backlog is 511). */
const CONNECTING = 100;

/**
 * Waits until the API's accepted requests are all decided. Answers still in flight when autocannon stops
 * arrive just after it, so the count is read until it holds still.
 */
async function settled(world, timeoutMs = 120_000) {
  await sleep(300);
  await withClient(world.url, async (client) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const accepted = await acceptedCount(world);
      const { rows } = await client.query('SELECT count(*)::int AS n FROM decisions');
      if (rows[0].n >= accepted && (await acceptedCount(world)) === accepted) return;
      if (Date.now() > deadline) throw new Error(`only ${rows[0].n} of ${accepted} decisions`);
      await sleep(100);
    }
  });
}

/** Opens the clients `CONNECTING` at a time; each resolves once the server has answered its subscription. */
async function connectAll(url, selectorLists) {
  const clients = [];
  for (let i = 0; i < selectorLists.length; i += CONNECTING) {
    const batch = selectorLists
      .slice(i, i + CONNECTING)
      .map((selectors) => new LiveClient(url, selectors, { headers: AS_CLIENT }));
    clients.push(...batch);
    await Promise.all(batch.map((client) => client.ready));
  }
  return clients;
}

/** The record's events of the course, in commit order, as lines; and each student's, in the same order. */
async function recordedEvents(world, courseId) {
  const { rows } = await withClient(world.url, (client) =>
    client.query(
      `SELECT type, course_id, student_id, idempotency_key, status, waitlist_position, reason, capacity, at, txid::text AS txid
         FROM course_events WHERE course_id = $1 ORDER BY seq`,
      [courseId],
    ),
  );
  const course = rows.map((row) => comparableEvent({ ...row, at: row.at.toISOString() }));
  const byStudent = new Map();
  rows.forEach((row, i) => {
    if (!byStudent.has(row.student_id)) byStudent.set(row.student_id, []);
    byStudent.get(row.student_id).push(course[i]);
  });
  return { course, byStudent };
}

/** How a subscriber's events differ from what it should have received, or undefined when they match. */
function deliveryProblem(client, expected) {
  const got = client.events.map(({ event }) => comparableEvent(event));
  if (got.length === expected.length && got.every((line, i) => line === expected[i])) return undefined;
  const missing = expected.filter((line) => !got.includes(line)).length;
  const repeated = got.length - new Set(got).size;
  const foreign = got.filter((line) => !expected.includes(line)).length;
  return `${got.length} received for ${expected.length} expected: ${missing} missing, ${repeated} repeated, ${foreign} not its own${
    missing + repeated + foreign === 0 ? ', out of order' : ''
  }`;
}

/**
 * One API process and one worker. The accept rate (autocannon on POST /enroll, as the accept phase) without
 * subscribers; then 1,000 /ws subscribers, two per student of a 500-students-vs-30-seats stampede, and an
 * operator following its course; the stampede, timed from each event's commit to its receipt (its `at`,
 * PostgreSQL's now() in the transaction that wrote it, is that transaction's start: the figure includes
 * the transaction itself, an upper bound);
 * the accept rate again with the subscribers connected (the API then reads every event the worker writes,
 * since student subscriptions can select any course); and what each subscriber received against the record.
 * The rate without subscribers is measured before they connect and again after they leave (its mean is
 * the figure, so a drift of the process or the database over the phase falls on both sides alike), after
 * a warm-up load, with the queue drained before each measurement.
 */
async function liveSubscribers() {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const worker = await startCourseFlow(world, 'worker', { RUN_MIGRATIONS: 'false' });
  const [loadCourse] = await createCourses(world, 1, HOT_SEATS, 'WS-LOAD');
  const [courseId] = await createCourses(world, 1, LIVE_SEATS, 'WS');
  /** The accept rate, and the API's CPU per request until the load's requests are decided (their events read). */
  const accept = async (duration) => {
    const cpuBefore = api.cpuMs();
    const result = await load(api.url, { courseIds: [loadCourse], duration });
    await settled(world);
    return { ...result, apiCpuMsPerRequest: (api.cpuMs() - cpuBefore) / result.accepted };
  };

  // The API's CPU per request keeps falling for several seconds after start (JIT): measure past that.
  if (!SMOKE) await accept(4);
  const without = [await accept(SCALE.liveAcceptSeconds)];
  const apiRssWithout = api.peakRssMiB();
  // From here the peak is the API's with subscribers (where the kernel allows the reset; else the phase's).
  api.resetPeakRss();

  const tag = randomBytes(3).toString('hex');
  const students = Array.from({ length: SCALE.liveStudents }, (_, i) => `ws${tag}-${i}`);
  const refused = [];
  const connectStarted = performance.now();
  const [operator, ...subscribers] = await connectAll(api.url, [
    [{ course_id: courseId, token: ADMIN_TOKEN }],
    ...students.flatMap((student_id) => Array(SUBSCRIBERS_PER_STUDENT).fill([{ student_id }])),
  ]);
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  const clients = [operator, ...subscribers];
  for (const client of clients) {
    client.on('refused', (message) => refused.push(message.message));
    client.on('gave-up', (error) => refused.push(error.message));
  }

  const answers = await Promise.all(
    students.map(async (student_id, i) => {
      const answer = await fetch(`${api.url}/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...AS_CLIENT },
        body: JSON.stringify({
          student_id,
          course_id: courseId,
          idempotency_key: `${student_id}-k`,
          priority: (i % 4) * 10,
        }),
      });
      await answer.arrayBuffer();
      return answer.status;
    }),
  );
  const notAccepted = answers.filter((status) => status !== 202).length;
  if (notAccepted > 0) throw new Error(`${notAccepted} stampede requests were not accepted`);
  await settled(world);
  let record = await recordedEvents(world, courseId);
  const expectedOf = (i) =>
    i < 0 ? record.course : (record.byStudent.get(students[Math.floor(i / SUBSCRIBERS_PER_STUDENT)]) ?? []);
  // Each event is due within 1 s of its commit; the deadline only bounds a run that lost some.
  const deadline = Date.now() + 10_000;
  while (
    Date.now() < deadline &&
    clients.some((client, i) => client.events.length < expectedOf(i - 1).length)
  ) {
    await sleep(20);
  }
  const received = clients.flatMap((client) => client.events);
  const lags = received.map(({ event, receivedAt }) => receivedAt - Date.parse(event.at));
  let firstCommit = Infinity;
  let lastReceipt = -Infinity;
  for (const { event, receivedAt } of received) {
    firstCommit = Math.min(firstCommit, Date.parse(event.at));
    lastReceipt = Math.max(lastReceipt, receivedAt);
  }
  const deliverySeconds = (lastReceipt - firstCommit) / 1000;

  const withSubscribers = await accept(SCALE.liveAcceptSeconds);
  const apiRss = api.peakRssMiB();
  const workerRss = worker.peakRssMiB();

  // Checked after the second load too: none of its events may reach these subscribers.
  record = await recordedEvents(world, courseId);
  const problems = [];
  clients.forEach((client, i) => {
    const problem = deliveryProblem(client, expectedOf(i - 1));
    if (problem)
      problems.push(
        `${i === 0 ? 'operator' : `subscriber ${i} (${students[Math.floor((i - 1) / SUBSCRIBERS_PER_STUDENT)]})`}: ${problem}`,
      );
  });
  problems.push(...refused);
  const operatorDecisions = operator.events.filter(({ event }) =>
    DECISION_EVENT_TYPES.has(event.type),
  ).length;

  await Promise.all(clients.map((client) => client.close()));
  without.push(await accept(SCALE.liveAcceptSeconds));
  await api.stop();
  await worker.stop();
  await dropWorld(world);
  return {
    subscribers: subscribers.length,
    students: students.length,
    connectSeconds,
    events: received.length,
    eventsPerSecond: received.length / deliverySeconds,
    lagP50: percentile(lags, 0.5),
    lagP99: percentile(lags, 0.99),
    lagMax: lags.reduce((max, lag) => Math.max(max, lag), -Infinity),
    acceptWithout: {
      requestsPerSecond: (without[0].requestsPerSecond + without[1].requestsPerSecond) / 2,
      p99: Math.max(without[0].p99, without[1].p99),
      apiCpuMsPerRequest: (without[0].apiCpuMsPerRequest + without[1].apiCpuMsPerRequest) / 2,
      runs: without,
    },
    acceptWith: withSubscribers,
    apiRssWithout,
    apiRss,
    workerRss,
    exact: clients.slice(1).filter((client, i) => !deliveryProblem(client, expectedOf(i))).length,
    operatorDecisions,
    problems,
  };
}

// ---------------------------------------------------------------- webhooks

/** The slow receiver answers every call after this: its webhook's deliverer is always busy and behind. */
const SLOW_RECEIVER_MS = 2_000;
/** Enrolled requests of the lag phase's course dropped after its stampede, each promoting the head. */
const WEBHOOK_DROPS = SMOKE ? 2 : 20;
/** Requests accepted with the partition queues paused, then decided: the decide rate's batch. */
const DECIDE_BATCH = SMOKE ? 200 : 10_000;

/**
 * The bench's webhook receiver on 127.0.0.1: POST /fast is answered 204 at once, and each event's first
 * receipt kept by its id (with its `at`); POST /slow is answered 204 after SLOW_RECEIVER_MS, each call
 * counted with its course. Nothing is verified: the signature is the unit tests' business.
 */
async function startReceiver() {
  const fast = new Map();
  const receiver = { fast, repeated: 0, slowCalls: 0, slowCourses: new Map() };
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const receivedAt = Date.now();
      const { event } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (request.url === '/slow') {
        receiver.slowCalls += 1;
        receiver.slowCourses.set(event.course_id, (receiver.slowCourses.get(event.course_id) ?? 0) + 1);
        setTimeout(() => response.writeHead(204).end(), SLOW_RECEIVER_MS);
        return;
      }
      if (fast.has(event.id)) receiver.repeated += 1;
      else fast.set(event.id, { receivedAt, at: Date.parse(event.at), courseId: event.course_id });
      response.writeHead(204).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return Object.assign(receiver, {
    fastUrl: `${base}/fast`,
    slowUrl: `${base}/slow`,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  });
}

/** POST /admin/webhooks for every event type; resolves with the webhook's id. */
async function registerWebhook(api, url) {
  const answer = await fetch(`${api.url}/admin/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ url, secret: `bench-${randomBytes(12).toString('hex')}`, events: ['*'] }),
  });
  if (answer.status !== 201) throw new Error(`POST /admin/webhooks: ${answer.status} ${await answer.text()}`);
  return (await answer.json()).id;
}

async function removeWebhook(api, id) {
  const answer = await fetch(`${api.url}/admin/webhooks/${id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  if (answer.status !== 204) throw new Error(`DELETE /admin/webhooks/${id}: ${answer.status}`);
}

/** Events of the record past the webhook's cursors (what it has yet to deliver), from PostgreSQL. */
async function webhookBacklog(world, webhookId) {
  const { rows } = await withClient(world.url, (client) =>
    client.query(
      `SELECT COALESCE(sum(c.events_written - COALESCE(k.delivered_seq, 0)), 0)::int AS n
         FROM courses c LEFT JOIN webhook_cursors k ON k.webhook_id = $1 AND k.course_id = c.id
        WHERE c.events_written > COALESCE(k.delivered_seq, 0)`,
      [webhookId],
    ),
  );
  return rows[0].n;
}

/**
 * Webhooks (contract v3) against the accept and decide paths, and their delivery lag. One API process and
 * one worker (which decides and delivers), and the bench's receiver (startReceiver). Measured in turn:
 * without a webhook, the accept rate (autocannon on POST /enroll, as the accept phase, each measurement on
 * a fresh 10,000-seat course, the worker deciding meanwhile, the queue drained after each) and the decide
 * rate (DECIDE_BATCH requests accepted with the partition queues paused, then let go: first to last
 * decision, as the hot course's); with a webhook (["*"]) to the fast receiver, a 500-students-vs-30-seats
 * stampede and WEBHOOK_DROPS drops, each event timed from its `at` (its transaction's start: an upper
 * bound) to its receipt, then the accept rate, then the backlog it left drained; with a webhook to the
 * slow receiver instead (its deliverer always waiting on a call), the accept and decide rates; and without
 * a webhook again. The "without" figures are the mean of before and after, so a drift of the machine over
 * the phase falls on both sides alike. Every event of the stampede's course must reach the fast receiver.
 */
async function webhookPhase() {
  const world = await freshWorld();
  const api = await startCourseFlow(world, 'api');
  const worker = await startCourseFlow(world, 'worker', { RUN_MIGRATIONS: 'false' });
  const receiver = await startReceiver();
  const queues = await partitionQueues(world);
  try {
    let courses = 0;
    const freshCourse = async (seats = HOT_SEATS) =>
      (await createCourses(world, 1, seats, `WH${(courses += 1)}-`))[0];
    // The processes' own CPU only: the shared servers may be restarted by a fault run on the same machine.
    const cpuOf = (processes) => {
      const before = Object.fromEntries(Object.entries(processes).map(([name, p]) => [name, p.cpuMs()]));
      return (count) =>
        Object.fromEntries(
          Object.entries(processes).map(([name, p]) => [name, (p.cpuMs() - before[name]) / count]),
        );
    };
    /** The accept rate on a fresh course, and each process' CPU per request until its requests are decided. */
    const accept = async (duration = SCALE.liveAcceptSeconds) => {
      const courseId = await freshCourse();
      const cpu = cpuOf({ api, worker });
      const result = await load(api.url, { courseIds: [courseId], duration });
      await settled(world);
      return { ...result, cpu: cpu(result.accepted) };
    };
    /** DECIDE_BATCH requests for a fresh course accepted while no worker may take them, then decided. */
    const decide = async () => {
      const courseId = await freshCourse();
      await Promise.all(queues.map((queue) => queue.pause()));
      let accepted;
      try {
        ({ accepted } = await load(api.url, { courseIds: [courseId], amount: DECIDE_BATCH }));
      } finally {
        await Promise.all(queues.map((queue) => queue.resume()));
      }
      const cpu = cpuOf({ worker });
      const { rate } = await decisionsPerSecond(world, accepted, 600_000, courseId);
      return { rate, accepted, cpu: cpu(accepted) };
    };

    // The API's CPU per request keeps falling for several seconds after start (JIT): measure past that.
    if (!SMOKE) await accept(4);
    const without = [{ accept: await accept(), decide: await decide() }];

    // The fast receiver: delivery lag through a stampede and drops, then the accept rate.
    const fastId = await registerWebhook(api, receiver.fastUrl);
    const lagCourse = await freshCourse(LIVE_SEATS);
    const tag = randomBytes(3).toString('hex');
    const students = Array.from({ length: SCALE.liveStudents }, (_, i) => `wh${tag}-${i}`);
    const answers = await Promise.all(
      students.map(async (student_id, i) => {
        const answer = await fetch(`${api.url}/enroll`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...AS_CLIENT },
          body: JSON.stringify({
            student_id,
            course_id: lagCourse,
            idempotency_key: `${student_id}-k`,
            priority: (i % 4) * 10,
          }),
        });
        await answer.arrayBuffer();
        return answer.status;
      }),
    );
    const notAccepted = answers.filter((status) => status !== 202).length;
    if (notAccepted > 0) throw new Error(`${notAccepted} stampede requests were not accepted`);
    await settled(world);
    const { rows: held } = await withClient(world.url, (client) =>
      client.query('SELECT idempotency_key FROM enrollments WHERE course_id = $1 ORDER BY id LIMIT $2', [
        lagCourse,
        WEBHOOK_DROPS,
      ]),
    );
    await dropEach(
      api.url,
      held.map((row) => row.idempotency_key),
    );
    const { rows: recorded } = await withClient(world.url, (client) =>
      client.query(
        `SELECT course_id || '-' || seq AS id, type FROM course_events WHERE course_id = $1 ORDER BY seq`,
        [lagCourse],
      ),
    );
    // The events are delivered one after another; the deadline only bounds a run that lost some.
    const deadline = Date.now() + (SMOKE ? 30_000 : 120_000);
    while (Date.now() < deadline && recorded.some((event) => !receiver.fast.has(event.id))) await sleep(20);
    const received = recorded.map((event) => receiver.fast.get(event.id)).filter(Boolean);
    const problems = [];
    const missing = recorded.length - received.length;
    if (missing > 0)
      problems.push(`webhook: ${missing} of ${recorded.length} events never reached the receiver`);
    const lags = received.map((event) => event.receivedAt - event.at);
    const firstCommit = Math.min(...received.map((event) => event.at));
    const lastReceipt = Math.max(...received.map((event) => event.receivedAt));
    const types = {};
    for (const { type } of recorded) types[type] = (types[type] ?? 0) + 1;

    const withFast = await accept();
    // What the load left to deliver (one course's events, one after another), and how fast it drains.
    const backlog = await webhookBacklog(world, fastId);
    const drainStarted = performance.now();
    const drainDeadline = Date.now() + 600_000;
    while ((await webhookBacklog(world, fastId)) > 0) {
      if (Date.now() > drainDeadline) throw new Error(`webhook backlog of ${backlog} events never drained`);
      await sleep(50);
    }
    const drainSeconds = (performance.now() - drainStarted) / 1000;
    await removeWebhook(api, fastId);

    // The slow receiver: its deliverer is busy and behind from the first event on.
    const slowId = await registerWebhook(api, receiver.slowUrl);
    const withSlow = { accept: await accept(), decide: await decide() };
    const slowCallsWhileRegistered = receiver.slowCalls;
    const slowBacklog = await webhookBacklog(world, slowId);
    await removeWebhook(api, slowId);
    const slowCallsAtRemoval = receiver.slowCalls;

    without.push({ accept: await accept(), decide: await decide() });
    const slowCallsAfterRemoval = receiver.slowCalls - slowCallsAtRemoval;
    const apiRss = api.peakRssMiB();
    const workerRss = worker.peakRssMiB();
    const mean = (pick) => (pick(without[0]) + pick(without[1])) / 2;
    return {
      acceptWithout: {
        requestsPerSecond: mean((r) => r.accept.requestsPerSecond),
        p99: Math.max(without[0].accept.p99, without[1].accept.p99),
        apiCpuMsPerRequest: mean((r) => r.accept.cpu.api),
        workerCpuMsPerRequest: mean((r) => r.accept.cpu.worker),
      },
      acceptFast: {
        requestsPerSecond: withFast.requestsPerSecond,
        p99: withFast.p99,
        apiCpuMsPerRequest: withFast.cpu.api,
        workerCpuMsPerRequest: withFast.cpu.worker,
      },
      acceptSlow: {
        requestsPerSecond: withSlow.accept.requestsPerSecond,
        p99: withSlow.accept.p99,
        apiCpuMsPerRequest: withSlow.accept.cpu.api,
        workerCpuMsPerRequest: withSlow.accept.cpu.worker,
      },
      decideWithout: mean((r) => r.decide.rate),
      decideSlow: withSlow.decide.rate,
      decideWorkerCpu: { without: mean((r) => r.decide.cpu.worker), slow: withSlow.decide.cpu.worker },
      events: recorded.length,
      received: received.length,
      types,
      eventsPerSecond: received.length / ((lastReceipt - firstCommit) / 1000),
      lagP50: percentile(lags, 0.5),
      lagP99: percentile(lags, 0.99),
      lagMax: Math.max(...lags),
      repeated: receiver.repeated,
      backlog,
      drainRate: backlog / drainSeconds,
      slowCalls: slowCallsWhileRegistered,
      slowBacklog,
      slowCourses: Object.fromEntries(receiver.slowCourses),
      slowCallsAfterRemoval,
      apiRss,
      workerRss,
      runs: { without, withFast, withSlow },
      problems,
    };
  } finally {
    await Promise.all(queues.map((queue) => queue.close()));
    await api.stop();
    await worker.stop();
    await receiver.close();
    await dropWorld(world);
  }
}

// ---------------------------------------------------------------- report

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (value, digits = 0) =>
  value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
/** Median of the runs, with min–max when there is more than one. */
const stat = (values, digits = 0) => {
  const shown = fmt(median(values), digits);
  return values.length > 1
    ? `${shown} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`
    : shown;
};

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
  const runs = {
    bare: [],
    stampede: [],
    limits: [],
    before: [],
    single: [],
    bursts: [],
    live: [],
    spread1: [],
    spread2: [],
    dropLatency: [],
    drops: [],
    offers: [],
    draw: [],
    openingAtOnce: [],
    openingPrequeue: [],
    subscribers: [],
    webhooks: [],
    cluster: [],
    profile: [],
    coldBurst: [],
  };
  for (let round = 1; round <= RUNS; round += 1) {
    const step = async (name, list, work) => {
      if (ONLY && !ONLY.some((part) => name.includes(part))) return;
      console.error(`run ${round}/${RUNS}: ${name}`);
      list.push(await work());
    };
    await step('bare NestJS app', runs.bare, bareApp);
    await step('hot course, stampede fill', runs.stampede, () => hotCourse('stampede'));
    await step('hot course, stampede fill, limits on', runs.limits, () =>
      hotCourse('stampede', process.cwd(), true),
    );
    if (BEFORE)
      await step(`hot course, stampede fill, ${BEFORE}`, runs.before, () => hotCourse('stampede', BEFORE));
    await step('hot course, one request per job', runs.single, () => hotCourse('one per job'));
    await step('hot course, burst fill', runs.bursts, () => hotCourse('bursts'));
    await step('hot course, live', runs.live, hotLive);
    await step('cold burst, 600 at once', runs.coldBurst, coldBurst);
    await step('spread, 1 worker', runs.spread1, () => spread(1));
    await step('spread, 2 workers', runs.spread2, () => spread(2));
    await step('drop latency, idle and under a stampede', runs.dropLatency, dropLatency);
    await step('drops per second, hot course', runs.drops, dropThroughput);
    await step('offer expiry lag', runs.offers, offerExpiry);
    await step('opening draw, 10,000 entries', runs.draw, openingDraw);
    await step('opening spike, all at once', runs.openingAtOnce, () => openingSpike(false));
    await step('opening spike, prequeue', runs.openingPrequeue, () => openingSpike(true));
    await step('websocket subscribers', runs.subscribers, liveSubscribers);
    await step('webhooks', runs.webhooks, webhookPhase);
    await step('redis cluster accept', runs.cluster, clusterAccept);
    // One profile is enough to say where the CPU goes; its spread is not the point.
    if (round === 1) await step('accept profile', runs.profile, acceptProfile);
  }
  await withClient(ADMIN_DATABASE_URL, (client) =>
    client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`),
  );

  if (ONLY) {
    // A quick look: the raw figures of the phases that ran (and the live events phase's rows, when it ran).
    if (runs.subscribers.length > 0) {
      console.log(
        ['| Phase | CourseFlow | Compared with | Ratio | Target |', '| --- | --- | --- | --- | --- |']
          .concat(subscriberRows(runs.subscribers), '')
          .join('\n'),
      );
    }
    if (runs.webhooks.length > 0) {
      console.log(
        ['| Phase | CourseFlow | Compared with | Ratio | Target |', '| --- | --- | --- | --- | --- |']
          .concat(webhookRows(runs.webhooks), '')
          .join('\n'),
      );
    }
    if (runs.stampede.length > 0 && runs.spread1.length > 0) console.log(`${costRows(runs).join('\n')}\n`);
    if (runs.cluster.length > 0) console.log(`${clusterRows(runs.cluster).join('\n')}\n`);
    if (runs.draw.length > 0 && runs.stampede.length > 0 && runs.openingAtOnce.length > 0) {
      const pgbenchRuns = runs.stampede.map((r) => r.naive.pgbench);
      console.log(
        ['| Phase | CourseFlow | Compared with | Ratio | Target |', '| --- | --- | --- | --- | --- |']
          .concat(openingRows(runs, pgbenchRuns, `pgbench naive, 1 row: ${stat(pgbenchRuns)} tps`), '')
          .join('\n'),
      );
    }
    if (runs.profile.length > 0) console.log(`${profileRows(runs).join('\n')}\n`);
    console.log(JSON.stringify(Object.fromEntries(Object.entries(runs).filter(([, list]) => list.length))));
    failOnLostEvents([...runs.subscribers, ...runs.webhooks]);
    return;
  }
  const all = (list, pick) => list.map(pick);
  const ratio = (ours, theirs) => `${fmt(median(ours) / median(theirs), 2)}×`;
  const hotPgbench = all(runs.stampede, (r) => r.naive.pgbench);
  const hotLoop = all(runs.stampede, (r) => r.naive.nodeLoop);
  const spreadPgbench = all(runs.spread1, (r) => r.naive.pgbench);
  const spreadLoop = all(runs.spread1, (r) => r.naive.nodeLoop);
  const hotFloor = `pgbench naive, 1 row: ${stat(hotPgbench)} tps (Node loop ${stat(hotLoop)})`;
  const acceptRps = all(runs.stampede, (r) => r.accept.requestsPerSecond);
  const acceptP99 = all(runs.stampede, (r) => r.accept.p99);
  const bareRps = all(runs.bare, (r) => r.requestsPerSecond);
  const bareP99 = all(runs.bare, (r) => r.p99);
  const decideRow = (label, list) =>
    `| ${label} | ${stat(all(list, (r) => r.rate))} decisions/s | ${hotFloor} | ${ratio(
      all(list, (r) => r.rate),
      hotPgbench,
    )} | ≥ 10× |`;
  const live = runs.subscribers;
  const subscribers = SCALE.liveStudents * SUBSCRIBERS_PER_STUDENT;
  const v = await versions();

  const lines = [
    `Machine: ${os.cpus().length} cores (${os.cpus()[0].model.trim()}), ${fmt(os.totalmem() / 2 ** 30, 1)} GiB; ` +
      `Node ${v.node}, PostgreSQL ${v.postgres}, Redis ${v.redis}, NestJS ${v.nest}, BullMQ ${v.bullmq}, TypeORM ${v.typeorm}. ` +
      `Median of ${RUNS} run(s), min–max in brackets${SMOKE ? ' (smoke scale: figures mean nothing)' : ''}; ` +
      `load generator (autocannon, ${CONNECTIONS} connections, unique students) on the same machine.`,
    '',
    '| Phase | CourseFlow | Compared with | Ratio | Target |',
    '| --- | --- | --- | --- | --- |',
    `| accept: POST /enroll, hot course, ${CONNECTIONS} connections, ${SCALE.stampedeSeconds} s | ${stat(acceptRps)} req/s, p99 ${stat(acceptP99)} ms, API CPU ${stat(
      all(runs.stampede, (r) => r.acceptCost.api),
      3,
    )} ms/request | bare NestJS app: ${stat(bareRps)} req/s, p99 ${stat(bareP99)} ms, CPU ${stat(
      all(runs.bare, (r) => r.cpuMsPerRequest),
      3,
    )} ms/request | ${ratio(acceptRps, bareRps)}, p99 ${ratio(acceptP99, bareP99)} | ≥ 0.6×, p99 ≤ 2× |`,
    decideRow(
      `allocate, hot course, stampede fill (${CONNECTIONS} at a time, ${stat(all(runs.stampede, (r) => r.accept.accepted))} requests)`,
      runs.stampede,
    ),
    decideRow(
      `allocate, hot course, stampede fill, limits on (4 credits, a meeting, DEFAULT_MAX_CREDITS=18, DEFAULT_MAX_WAITLISTED=5)`,
      runs.limits,
    ),
    `| allocate, hot course, limits on vs off (same run) | ${stat(all(runs.limits, (r) => r.rate))} decisions/s | limits off: ${stat(all(runs.stampede, (r) => r.rate))} decisions/s | ${ratio(
      all(runs.limits, (r) => r.rate),
      all(runs.stampede, (r) => r.rate),
    )} | reported |`,
    ...(BEFORE
      ? [
          `| allocate, hot course, stampede fill, before: ${path.basename(BEFORE)} (same run) | ${stat(all(runs.before, (r) => r.rate))} decisions/s | this build: ${stat(all(runs.stampede, (r) => r.rate))} decisions/s | ${ratio(
            all(runs.stampede, (r) => r.rate),
            all(runs.before, (r) => r.rate),
          )} | ≥ 0.9× |`,
        ]
      : []),
    decideRow(
      `allocate, hot course, one-request jobs (${CONNECTIONS} at a time, ALLOCATION_BATCH_MAX=1)`,
      runs.single,
    ),
    decideRow(`allocate, hot course, burst fill (${SCALE.bursts} × ${SCALE.burstSize} at once)`, runs.bursts),
    `| accept: 600 at once (500 students for 30 seats + 100 resends) on a just-started API, answer time | p50 ${stat(all(runs.coldBurst, (r) => r.cold.p50))} ms, p99 ${stat(all(runs.coldBurst, (r) => r.cold.p99))} ms | the same, warm: p50 ${stat(all(runs.coldBurst, (r) => r.warm.p50))} ms, p99 ${stat(all(runs.coldBurst, (r) => r.warm.p99))} ms | ${ratio(
      all(runs.coldBurst, (r) => r.cold.p99),
      all(runs.coldBurst, (r) => r.warm.p99),
    )} (p99) | reported |`,
    `| allocate, hot course, live: 202 → decision while the stampede runs | p50 ${stat(all(runs.live, (r) => r.waitP50))} ms, p99 ${stat(all(runs.live, (r) => r.waitP99))} ms (accept ${stat(all(runs.live, (r) => r.accept.requestsPerSecond))} req/s) | – | – | reported |`,
    `| allocate, spread: ${fmt(SCALE.spreadCourses)} courses, 1 worker | ${stat(all(runs.spread1, (r) => r.rate))} decisions/s | pgbench naive, ${fmt(SCALE.spreadCourses)} rows: ${stat(spreadPgbench)} tps (Node loop ${stat(spreadLoop)}) | ${ratio(
      all(runs.spread1, (r) => r.rate),
      spreadPgbench,
    )} | ≥ 2× |`,
    `| allocate, spread: ${fmt(SCALE.spreadCourses)} courses, 2 workers | ${stat(all(runs.spread2, (r) => r.rate))} decisions/s | 1 worker: ${stat(all(runs.spread1, (r) => r.rate))} decisions/s | ${ratio(
      all(runs.spread2, (r) => r.rate),
      all(runs.spread1, (r) => r.rate),
    )} | ≥ 1× |`,
    `| drop → promotion, hot course under a stampede (DELETE answered, one at a time, ${DROPS} drops) | p50 ${stat(
      all(runs.dropLatency, (r) => r.busyP50),
      1,
    )} ms, p99 ${stat(
      all(runs.dropLatency, (r) => r.busyP99),
      1,
    )} ms | idle course: p50 ${stat(
      all(runs.dropLatency, (r) => r.idleP50),
      1,
    )} ms, p99 ${stat(
      all(runs.dropLatency, (r) => r.idleP99),
      1,
    )} ms | ${ratio(
      all(runs.dropLatency, (r) => r.busyP99),
      all(runs.dropLatency, (r) => r.idleP99),
    )} (p99) | reported |`,
    `| swap out of the hot course under a stampede (POST /enroll with swap_for → seen enrolled by polling GET; the same transaction drops the named seat and promotes the hot course's head; one at a time, alternating with the drops above, ${DROPS} swaps) | p50 ${stat(
      all(runs.dropLatency, (r) => r.swapBusyP50),
      1,
    )} ms, p99 ${stat(
      all(runs.dropLatency, (r) => r.swapBusyP99),
      1,
    )} ms | idle: p50 ${stat(
      all(runs.dropLatency, (r) => r.swapIdleP50),
      1,
    )} ms, p99 ${stat(
      all(runs.dropLatency, (r) => r.swapIdleP99),
      1,
    )} ms; a plain drop under the stampede: p99 ${stat(
      all(runs.dropLatency, (r) => r.busyP99),
      1,
    )} ms | ${ratio(
      all(runs.dropLatency, (r) => r.swapBusyP99),
      all(runs.dropLatency, (r) => r.busyP99),
    )} of a drop (p99) | reported |`,
    `| offer expiry lag: ${fmt(OFFER_COURSES * OFFERS_PER_COURSE)} live offers on ${OFFER_COURSES} courses, deadlines spread over ${OFFER_WINDOW_S} s, one worker's sweep (every 1 s) | p50 ${stat(
      all(runs.offers, (r) => r.lagP50),
      2,
    )} s, p99 ${stat(
      all(runs.offers, (r) => r.lagP99),
      2,
    )} s, max ${stat(
      all(runs.offers, (r) => r.lagMax),
      2,
    )} s | the contract: at most 5 s late | ${ratio(
      all(runs.offers, (r) => r.lagP99),
      all(runs.offers, () => 5),
    )} of 5 s (p99) | p99 ≤ 5 s |`,
    ...openingRows(runs, hotPgbench, hotFloor),
    `| drops per second, hot course (16 clients, each drop promotes the head) | ${stat(all(runs.drops, (r) => r.rate))} drops/s | pgbench naive drop + promote: ${stat(all(runs.drops, (r) => r.naive))} tps | ${ratio(
      all(runs.drops, (r) => r.rate),
      all(runs.drops, (r) => r.naive),
    )} | ≥ 0.5× |`,
    ...subscriberRows(live),
    ...webhookRows(runs.webhooks),
    ...clusterRows(runs.cluster),
    '',
    '| Peak RSS (MiB) | API | Worker |',
    '| --- | --- | --- |',
    `| hot course, stampede fill | ${stat(all(runs.stampede, (r) => r.apiRss))} | ${stat(all(runs.stampede, (r) => r.workerRss))} |`,
    `| hot course, live | ${stat(all(runs.live, (r) => r.apiRss))} | ${stat(all(runs.live, (r) => r.workerRss))} |`,
    `| spread, 1 worker | ${stat(all(runs.spread1, (r) => r.apiRss))} | ${stat(all(runs.spread1, (r) => r.workerRss))} |`,
    `| spread, 2 workers | ${stat(all(runs.spread2, (r) => r.apiRss))} | ${stat(all(runs.spread2, (r) => r.workerRss))} (each, max) |`,
    `| websocket subscribers (API: while ${fmt(subscribers)} were connected) | ${stat(all(live, (r) => r.apiRss))} | ${stat(all(live, (r) => r.workerRss))} |`,
    '',
    ...costRows(runs),
    ...profileRows(runs),
  ];
  console.log(lines.join('\n'));
  failOnLostEvents([...live, ...runs.webhooks]);
}

/** The fair opening's rows: the draw's decide rate against the naive floor, its lag, and the spike. */
function openingRows(runs, hotPgbench, hotFloor) {
  const all = (list, pick) => list.map(pick);
  const ratio = (ours, theirs) => `${fmt(median(ours) / median(theirs), 2)}×`;
  if (runs.draw.length === 0) return [];
  return [
    `| opening draw: ${fmt(DRAW_ENTRIES)} entries for ${fmt(DRAW_SEATS)} seats, one worker | ${stat(all(runs.draw, (r) => r.rate))} decisions/s | ${hotFloor} | ${ratio(
      all(runs.draw, (r) => r.rate),
      hotPgbench,
    )} | ≥ 10× |`,
    `| opening draw: last of ${fmt(DRAW_ENTRIES)} entries decided, after the period's end | ${stat(
      all(runs.draw, (r) => r.lastDecidedAfterEndS),
      2,
    )} s | the sweep runs every 1 s | – | reported |`,
    `| opening spike: ${fmt(OPENING_ARRIVALS)} arrivals, prequeue_s ${PREQUEUE_S} (spread over it) vs none (${fmt(OPENING_AT_ONCE)} in flight at the opening) | accept p99 ${stat(
      all(runs.openingPrequeue, (r) => r.p99),
    )} ms, API peak RSS ${stat(all(runs.openingPrequeue, (r) => r.apiRss))} MiB | no prequeue: p99 ${stat(
      all(runs.openingAtOnce, (r) => r.p99),
    )} ms, RSS ${stat(all(runs.openingAtOnce, (r) => r.apiRss))} MiB | ${ratio(
      all(runs.openingPrequeue, (r) => r.p99),
      all(runs.openingAtOnce, (r) => r.p99),
    )} (p99) | reported |`,
  ];
}

/**
 * CPU per request of each part, and what one core of it would sustain at that cost: what capacity planning
 * needs (which part saturates first, how many of each). The servers' figures are the whole Redis and
 * PostgreSQL server while the phase ran (nothing else uses them during a bench).
 */
function costRows(runs) {
  const row = (label, list, phase, proc) => {
    const pick = (part) => list.map((r) => r[phase][part]);
    // CPU time is counted in 10 ms ticks: a short phase may not have used a whole one.
    const cell = (part) =>
      median(pick(part)) > 0
        ? `${stat(pick(part), 3)} ms (${fmt(1000 / median(pick(part)))}/s per core)`
        : `${stat(pick(part), 3)} ms (below the 10 ms clock tick)`;
    return `| ${label} | ${proc === 'api' ? cell('api') : '–'} | ${proc === 'worker' ? cell('worker') : '–'} | ${cell('redis')} | ${cell('postgres')} |`;
  };
  return [
    '| CPU per request (ms), and what one core of each part sustains at that cost | API | Worker | Redis | PostgreSQL |',
    '| --- | --- | --- | --- | --- |',
    row('accept, hot course (stampede fill)', runs.stampede, 'acceptCost', 'api'),
    row('decide, hot course (1 worker)', runs.stampede, 'decideCost', 'worker'),
    row(`accept, spread over ${fmt(SCALE.spreadCourses)} courses`, runs.spread1, 'acceptCost', 'api'),
    row(
      `decide, spread over ${fmt(SCALE.spreadCourses)} courses (1 worker)`,
      runs.spread1,
      'decideCost',
      'worker',
    ),
    '',
    `Redis memory per request (hot course, stampede fill): ${stat(runs.stampede.map((r) => r.redisBytes.queued))} bytes while queued, ` +
      `${stat(runs.stampede.map((r) => r.redisBytes.decided))} bytes once decided (its claim, kept for IDEMPOTENCY_TTL_SECONDS).`,
  ];
}

/**
 * Where the accept path's CPU goes (the profile phase): each part's share of the API's and of the bare app's
 * busy CPU and, when the stampede and the bare app phases ran too, in ms per request at their median cost.
 */
function profileRows(runs) {
  const [profile] = runs.profile;
  if (!profile) return [];
  const perRequest = (list, pick) => (list.length > 0 ? median(list.map(pick)) : undefined);
  const apiMs = perRequest(runs.stampede, (r) => r.acceptCost.api);
  const bareMs = perRequest(runs.bare, (r) => r.cpuMsPerRequest);
  const cells = (share, ms) => `${fmt(100 * share, 1)}% | ${ms === undefined ? '–' : fmt(share * ms, 3)}`;
  const bareShare = (part) => profile.bare.find((s) => s.part === part)?.share ?? 0;
  const total = (shares, own) => shares.filter((s) => s.own === own).reduce((sum, s) => sum + s.share, 0);
  return [
    '',
    `Where the CPU goes while accepting: V8 CPU profiles of the API and of the bare app, each under one ${SCALE.stampedeSeconds} s ` +
      "stampede, idle time left out; ms per request = the share × that process's median CPU per request above.",
    '',
    '| Part of the accept path | CourseFlow API: share of busy CPU | ms per request | bare NestJS app: share | ms per request |',
    '| --- | --- | --- | --- | --- |',
    ...profile.api.map(
      (s) =>
        `| ${s.part} | ${cells(s.share, apiMs)} | ${s.own ? '– | –' : cells(bareShare(s.part), bareMs)} |`,
    ),
    `| **CourseFlow's own parts** | ${cells(total(profile.api, true), apiMs)} | – | – |`,
    `| **parts the bare app has too** | ${cells(total(profile.api, false), apiMs)} | ${cells(total(profile.bare, false), bareMs)} |`,
  ];
}

/** The Redis Cluster row of the main table: accept with and without waiting for a replica. */
function clusterRows(list) {
  const pick = (which, field) => list.map((r) => r[which][field]);
  return [
    `| accept on a Redis Cluster (3 masters + 3 replicas, REDIS_MODE=cluster), hot course, ${CONNECTIONS} connections, ${SCALE.stampedeSeconds} s | REDIS_WAIT_REPLICAS=1: ${stat(pick('wait', 'requestsPerSecond'))} req/s, p99 ${stat(pick('wait', 'p99'))} ms | REDIS_WAIT_REPLICAS=0: ${stat(pick('noWait', 'requestsPerSecond'))} req/s, p99 ${stat(pick('noWait', 'p99'))} ms | ${fmt(
      median(pick('wait', 'requestsPerSecond')) / median(pick('noWait', 'requestsPerSecond')),
      2,
    )}× | reported |`,
  ];
}

/** The live events phase's rows of the main table. */
function subscriberRows(live) {
  const subscribers = SCALE.liveStudents * SUBSCRIBERS_PER_STUDENT;
  const all = (pick) => live.map(pick);
  return [
    `| live events on /ws: ${fmt(subscribers)} subscribers (${SUBSCRIBERS_PER_STUDENT} per student) + 1 operator, ${fmt(SCALE.liveStudents)} students vs ${LIVE_SEATS} seats, 1 API + 1 worker | ${stat(all((r) => r.eventsPerSecond))} events/s (${stat(all((r) => r.events))} events), commit → receipt p50 ${stat(all((r) => r.lagP50))} ms, p99 ${stat(all((r) => r.lagP99))} ms | – | – | p99 < 1 s |`,
    `| accept: POST /enroll with ${fmt(subscribers)} /ws subscribers connected, ${CONNECTIONS} connections, ${SCALE.liveAcceptSeconds} s | ${stat(all((r) => r.acceptWith.requestsPerSecond))} req/s, p99 ${stat(all((r) => r.acceptWith.p99))} ms, API CPU ${stat(
      all((r) => r.acceptWith.apiCpuMsPerRequest),
      2,
    )} ms/request | without subscribers: ${stat(all((r) => r.acceptWithout.requestsPerSecond))} req/s, p99 ${stat(all((r) => r.acceptWithout.p99))} ms, API CPU ${stat(
      all((r) => r.acceptWithout.apiCpuMsPerRequest),
      2,
    )} ms/request | ${stat(
      all((r) => r.acceptWith.requestsPerSecond / r.acceptWithout.requestsPerSecond),
      2,
    )}× (per run) | ≥ 0.85× |`,
    `| API peak RSS with ${fmt(subscribers)} /ws subscribers connected | ${stat(all((r) => r.apiRss))} MiB | before they connected: ${stat(all((r) => r.apiRssWithout))} MiB | ${fmt(
      median(all((r) => r.apiRss)) / median(all((r) => r.apiRssWithout)),
      2,
    )}× | < 200 MiB |`,
    `| live events delivered exactly (each subscriber its student's events: none missing, repeated or foreign, in order) | ${stat(all((r) => r.exact))} of ${fmt(subscribers)} subscribers exact; operator: ${stat(all((r) => r.operatorDecisions))} decision events for ${fmt(SCALE.liveStudents)} decisions | – | – | all |`,
  ];
}

/** The webhooks phase's rows of the main table: accept and decide with and without one, and the lag. */
function webhookRows(list) {
  if (list.length === 0) return [];
  const all = (pick) => list.map(pick);
  const accept = (which) =>
    `${stat(all((r) => r[which].requestsPerSecond))} req/s, p99 ${stat(all((r) => r[which].p99))} ms, API CPU ${stat(
      all((r) => r[which].apiCpuMsPerRequest),
      2,
    )} ms/request`;
  const perRun = (ours, theirs) =>
    `${stat(
      all((r) => ours(r) / theirs(r)),
      2,
    )}× (per run)`;
  const load = `POST /enroll, 1 API + 1 worker, ${CONNECTIONS} connections, ${SCALE.liveAcceptSeconds} s`;
  return [
    `| accept with a webhook (["*"]) to a fast receiver (204 at once): ${load} | ${accept('acceptFast')} | no webhook: ${accept('acceptWithout')} | ${perRun(
      (r) => r.acceptFast.requestsPerSecond,
      (r) => r.acceptWithout.requestsPerSecond,
    )} | ≥ 0.9× |`,
    `| accept with a webhook to a slow receiver (every call answered after ${SLOW_RECEIVER_MS / 1000} s: its deliverer always busy and behind): ${load} | ${accept('acceptSlow')} | no webhook: ${accept('acceptWithout')} | ${perRun(
      (r) => r.acceptSlow.requestsPerSecond,
      (r) => r.acceptWithout.requestsPerSecond,
    )} | ≥ 0.9× |`,
    `| decide with the slow receiver's webhook, one worker (${fmt(DECIDE_BATCH)} requests queued, then decided) | ${stat(all((r) => r.decideSlow))} decisions/s | no webhook: ${stat(all((r) => r.decideWithout))} decisions/s | ${perRun(
      (r) => r.decideSlow,
      (r) => r.decideWithout,
    )} | ≥ 0.9× |`,
    `| webhook delivery lag, fast receiver: ${fmt(SCALE.liveStudents)} students vs ${LIVE_SEATS} seats + ${WEBHOOK_DROPS} drops, 1 API + 1 worker | ${stat(all((r) => r.eventsPerSecond))} events/s (${stat(all((r) => r.events))} events), commit → receipt p50 ${stat(all((r) => r.lagP50))} ms, p99 ${stat(all((r) => r.lagP99))} ms, max ${stat(all((r) => r.lagMax))} ms; received ${stat(all((r) => r.received))}, repeated ${stat(all((r) => r.repeated))} | – | – | reported |`,
    `| webhook backlog left by the fast-receiver accept load (one course's events, delivered one after another) | ${stat(all((r) => r.backlog))} events drained at ${stat(all((r) => r.drainRate))} events/s | – | – | reported |`,
  ];
}

/** After the figures are printed: an event a subscriber or a webhook missed (or a foreign one) fails the bench. */
function failOnLostEvents(runs) {
  const problems = runs.flatMap((run) => run.problems);
  if (problems.length > 0) {
    throw new Error(`events not delivered exactly:\n  ${problems.slice(0, 10).join('\n  ')}`);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench failed: ${error.stack ?? error}`);
    process.exit(1);
  },
);
