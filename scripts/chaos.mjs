// npm run chaos: docs/guarantees.md §5 under faults — every accepted (202) request gets one decision, and a
// crash loses none and decides none twice. Starts PRIVATE servers it may kill (a PostgreSQL 15 cluster and a
// redis-server with AOF, in a temp dir, on free ports), the built service as one API and one worker process,
// and for each fault a stampede on a fresh course with the fault injected midway. Prints a Markdown table and
// exits 1 if a request was lost, decided twice, decided out of order or left queued without a job.
// CHAOS_REPEAT (5) runs of each fault; CHAOS_FAULTS=substring,substring selects faults; CHAOS_SEED (1) seeds
// the stampedes; CHAOS_BUDGET_S skips the runs that would start after that many seconds; CHAOS_KEEP=1 keeps
// the temp dir (every process's log); CHAOS_PG_BIN (/usr/lib/postgresql/15/bin).
// Every run also registers a webhook (["*"]) with a receiver in this script that checks each delivery's
// signature, answers some tries 500 and some only after 11 s (past the 10 s a try may take), and at rest
// finds every event of the run's courses received, a course's events first received in commit order, none
// before the one ahead of it was answered 2xx (contract v3, Webhooks).
// CHAOS_REDIS=cluster runs on a Redis Cluster instead (three masters, three replicas, REDIS_MODE=cluster) with
// its own faults: none (stampede and order alone), a worker killed, a master failed over to its replica
// (CLUSTER FAILOVER), a master killed, a master killed after its replicas were cut off; CHAOS_REDIS_WAIT (1 there, 0 on
// one server) is REDIS_WAIT_REPLICAS.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import { clusterNodeArgs, createRedisCluster, freePort as freeLocalPort } from './kit.mjs';

const exec = promisify(execFile);

const REPEAT = Number(process.env.CHAOS_REPEAT ?? 5);
const SELECTED = (process.env.CHAOS_FAULTS ?? '')
  .split(',')
  .map((part) => part.trim())
  .filter(Boolean);
const SEED = Number(process.env.CHAOS_SEED ?? 1);
const BUDGET_MS = process.env.CHAOS_BUDGET_S ? Number(process.env.CHAOS_BUDGET_S) * 1000 : Infinity;
const KEEP = process.env.CHAOS_KEEP === '1';
const PG_BIN = process.env.CHAOS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const CLUSTER = process.env.CHAOS_REDIS === 'cluster';
const REDIS_WAIT = process.env.CHAOS_REDIS_WAIT ?? (CLUSTER ? '1' : '0');
const PARTITIONS = 4; // the service's default ALLOCATION_PARTITIONS
/** Cluster: how long a master may be silent before its replica takes over (the default is 15 s). */
const CLUSTER_NODE_TIMEOUT_MS = 2000;

const CAPACITY = 50;
const STUDENTS = 1850; // one key each
const DUPLICATES = 150; // the same key and payload again, later in the stream
const SECOND_KEYS = 50; // a new key for a student who already has one in the course
const PRIORITIES = [0, 10, 50];
// Guarantee 8 under faults: every student may hold 4 credits (DEFAULT_MAX_CREDITS), the course and its
// companion (another partition's course) cost 4 each, and this many students ask for both at once.
const CREDITS = 4;
const COMPANION_STUDENTS = 300;
// Swaps under faults: this many companion students then ask to swap their companion seat for a seat in a
// third course (the companion's meetings, its credits: never both), which opens with SWAP_SEATS seats and
// grows to SWAP_STUDENTS while the fault is on, so waiting swaps are carried out by promotions.
const SWAP_STUDENTS = 100;
const SWAP_SEATS = 40;
// Offers under faults: an offer-mode course whose holders drop just before the fault, and whose offers'
// deadlines are moved to fall inside it (an offer stands 60 s at least; the run cannot wait that long).
const OFFER_SEATS = 10;
const OFFER_WAITING = 20;
const OFFER_DEADLINE_MS = 1500;
// The opening draw under faults: a course with a draw takes DRAW_STUDENTS entries (a few students with a
// second key) before the stampede, and its period is brought to an end DRAW_END_MS after the fault begins, so
// the draw is made and decided through it.
const DRAW_SEATS = 20;
const DRAW_STUDENTS = 60;
const DRAW_SECOND_KEYS = 10;
const DRAW_END_MS = 1000;
// Webhooks under faults: the receiver answers every WEBHOOK_FAIL_EVERY-th call 500 and every
// WEBHOOK_SLOW_EVERY-th only after WEBHOOK_SLOW_MS (the service gives a try 10 s). A course's events go one
// at a time, each failure holding its course back a retry delay, and a try held to its timeout holds the
// webhook's other courses too (they wait for the pass of its courses to end), so a course is failed at most
// once per WEBHOOK_FAIL_GAP_MS and the receiver is slow at most once per WEBHOOK_SLOW_GAP_MS: else the main
// course's ~1,900 events would wait out ~190 retry delays and the run ~38 slow tries.
const WEBHOOK_FAIL_EVERY = 10;
const WEBHOOK_SLOW_EVERY = 50;
const WEBHOOK_SLOW_MS = 11_000;
const WEBHOOK_FAIL_GAP_MS = 5000;
const WEBHOOK_SLOW_GAP_MS = 60_000;
const WEBHOOK_RETRY_MAX_MS = 2000;
/** A receiver's clock tolerance for the signed timestamp (as the README's receiver). */
const WEBHOOK_TOLERANCE_S = 300;
const CONCURRENCY = 64;
const FAULT_AFTER = 0.4; // of the requests answered
const QUEUE_PREFIX = 'courseflow';
const ADMIN_TOKEN = `chaos-${randomBytes(12).toString('hex')}`;
/** The load acts as the student portal, with a client token (CLIENT_TOKENS), as production runs. */
const CLIENT_TOKEN = `chaos-portal-${randomBytes(12).toString('hex')}`;
const SHUTDOWN_TIMEOUT_MS = 10_000;

// Every wait has a deadline, so a service that hangs is reported, never waited on forever.
const READY_MS = 60_000;
const STAMPEDE_MS = 90_000; // a client stops retrying this long after the stampede began
const ATTEMPT_MS = 10_000; // one HTTP attempt; an API stuck on a dead dependency must not hold a client
const EXIT_MS = SHUTDOWN_TIMEOUT_MS + 10_000; // past this a SIGTERM'd process is reported hung and killed
const DECISIONS_MS = 120_000; // after the stampede and the fault are over
const STALL_MS = 45_000; // no new decision for this long: give up (a dead worker's job returns in <= 23 s)
const EMPTY_QUEUE_MS = 5_000; // nothing queued in Redis and no new decision for this long: give up
const WEBHOOK_MS = 90_000; // at rest: every event of the run's courses received by then

const startedAt = Date.now();
const log = (line) => console.error(`[chaos ${((Date.now() - startedAt) / 1000).toFixed(0)} s] ${line}`);

// ---------------------------------------------------------------- cleanup

const children = new Set();
let dir;
let pgData;
let cleaned = false;

/** Synchronous, so it also runs from process.on('exit'): kill our children, stop our PostgreSQL, rm. */
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const child of children) child.kill('SIGKILL');
  if (pgData && existsSync(join(pgData, 'postmaster.pid'))) {
    try {
      execFileSync(...asPostgres(`${PG_BIN}/pg_ctl -D ${pgData} -m immediate -w -t 30 stop`), {
        cwd: dir,
        stdio: 'ignore',
        timeout: 40_000,
      });
    } catch {
      // Already stopped; nothing else of ours to stop.
    }
  }
  if (dir && !KEEP) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  else if (dir) console.error(`[chaos] kept ${dir} (logs in ${join(dir, 'logs')})`);
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

// ---------------------------------------------------------------- processes and servers

/** pg_ctl refuses to run as root: as root, go through `su postgres`. */
function asPostgres(command) {
  return process.getuid?.() === 0 ? ['su', ['postgres', '-c', command]] : ['sh', ['-c', command]];
}

/** A free port (see kit.mjs: below the ephemeral range) that this run has not handed out already. */
async function freePort(taken) {
  for (;;) {
    const port = await freeLocalPort();
    if (taken.has(port)) continue;
    taken.add(port);
    return port;
  }
}

/** Warnings and errors of the service processes, kept to explain a failed run. */
const notable = [];

/** Writes a child's output to logs/<name>.log and keeps the service's warn/error lines in memory. */
function capture(child, name, { service }) {
  const file = createWriteStream(join(dir, 'logs', `${name}.log`));
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.on('data', (chunk) => {
      file.write(chunk);
      if (!service) return;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const line of lines) noteLine(name, line);
    });
  }
  // 'close', not 'exit': output can still arrive after the process has exited.
  child.once('close', () => file.end());
}

function noteLine(name, line) {
  if (line.trim() === '') return;
  let level = 50;
  let text = line;
  try {
    const entry = JSON.parse(line);
    level = entry.level;
    text = typeof entry.msg === 'string' ? entry.msg : JSON.stringify(entry);
    if (entry.err?.message) text += `: ${entry.err.message}`;
  } catch {
    // Not JSON: Node's own output (an uncaught error, a warning), worth keeping, without its stack lines.
    if (/^\s|^[}\]]/.test(line)) return;
  }
  if (level < 40) return;
  notable.push({ at: Date.now(), name, text: text.slice(0, 300) });
  if (notable.length > 5000) notable.splice(0, 1000);
}

/** Resolves { code, signal, at } when the child exits. */
function track(child) {
  children.add(child);
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, at: Date.now() });
    }),
  );
}

function startPostgres(world) {
  const options = `-p ${world.pg.port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  return pgCtl(`-o '${options}' -l ${join(dir, 'postgres.log')} -w -t 60 start`);
}

async function pgCtl(args) {
  await exec(...asPostgres(`${PG_BIN}/pg_ctl -D ${pgData} ${args}`), { cwd: dir, timeout: 90_000 });
}

const pgServer = {
  start: (world) => startPostgres(world),
  stop: () => pgCtl('-m immediate -w -t 60 stop'),
  restart: (world) =>
    pgCtl(
      `-o '-p ${world.pg.port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off' ` +
        `-l ${join(dir, 'postgres.log')} -m fast -w -t 60 restart`,
    ),
};

/** Starts one redis-server (the one server, or a cluster node) with AOF, and waits until it answers. */
async function startRedisServer(server) {
  const cluster = server.cluster ? clusterNodeArgs(CLUSTER_NODE_TIMEOUT_MS, server.busPort) : [];
  mkdirSync(server.dir, { recursive: true });
  const child = spawn(
    'redis-server',
    [
      ...['--port', String(server.port), '--bind', '127.0.0.1', '--daemonize', 'no'],
      ...['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--dir', server.dir],
      ...cluster,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  server.incarnation += 1;
  capture(child, `${server.name}-${server.incarnation}`, { service: false });
  server.child = child;
  server.exited = track(child);
  const deadline = Date.now() + 30_000;
  // It answers -LOADING while it replays the AOF; +PONG means the queue is back.
  while (!(await redisPing(server.port))) {
    if (!isRunning({ child }) || Date.now() > deadline) throw new Error('redis-server did not start');
    await sleep(50);
  }
}

const startRedis = (world) => startRedisServer(world.redis);

function redisPing(port) {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    let reply = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      reply += data;
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

const redisServer = {
  start: (world) => startRedis(world),
  async kill(world) {
    world.redis.child.kill('SIGKILL');
    await world.redis.exited;
  },
  async shutdown(world) {
    await exec('redis-cli', ['-p', String(world.redis.port), 'shutdown'], { timeout: 10_000 }).catch(
      () => undefined,
    );
    if (!(await within(world.redis.exited, 10_000))) {
      world.redis.child.kill('SIGKILL');
      await world.redis.exited;
    }
  },
};

// ---------------------------------------------------------------- the Redis Cluster (CHAOS_REDIS=cluster)

async function redisCli(port, ...args) {
  const { stdout } = await exec('redis-cli', ['-p', String(port), ...args], { timeout: 10_000 });
  return stdout.trim();
}

/** CLUSTER NODES as one node sees it: each node's port, role, health and slot ranges. */
async function clusterView(port) {
  return (await redisCli(port, 'CLUSTER', 'NODES')).split('\n').map((line) => {
    const [id, address, flags, masterId, , , , link, ...slots] = line.split(' ');
    return {
      id,
      port: Number(address.split('@')[0].split(':').pop()),
      master: flags.includes('master'),
      failed: flags.split(',').some((flag) => flag === 'fail' || flag === 'fail?'),
      masterId: masterId === '-' ? null : masterId,
      linked: link === 'connected',
      slots: slots.filter((range) => !range.startsWith('[')).map((range) => range.split('-').map(Number)),
    };
  });
}

/** Every live node says the cluster is ok, and every slot has a master that is not failing. */
async function clusterSettled(world) {
  for (const node of world.cluster.filter(isRunning)) {
    const info = await redisCli(node.port, 'CLUSTER', 'INFO').catch(() => '');
    if (!/cluster_state:ok/.test(info)) return false;
    const view = await clusterView(node.port).catch(() => []);
    const covered = view
      .filter((n) => n.master && !n.failed && world.cluster.some((c) => c.port === n.port && isRunning(c)))
      .flatMap((n) => n.slots)
      .reduce((total, [from, to = from]) => total + to - from + 1, 0);
    if (covered !== 16384) return false;
    // Every master has a replica that follows it (WAIT counts on one).
    const masters = view.filter((n) => n.master && !n.failed && n.slots.length > 0);
    if (!masters.every((m) => view.some((n) => n.masterId === m.id && !n.failed && n.linked))) return false;
  }
  return true;
}

async function until(what, check, ms) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms / 1000} s`);
    await sleep(100);
  }
}

/** The master that serves the course's partition now, and its replicas. */
async function partitionNodes(world, courseId) {
  const live = world.cluster.find(isRunning);
  const slot = Number(await redisCli(live.port, 'CLUSTER', 'KEYSLOT', `{p${courseId % PARTITIONS}}`));
  const view = await clusterView(live.port);
  const master = view.find(
    (n) => n.master && !n.failed && n.slots.some(([from, to = from]) => slot >= from && slot <= to),
  );
  const node = (port) => world.cluster.find((c) => c.port === port);
  const replicas = view.filter((n) => n.masterId === master.id && !n.failed).map((n) => node(n.port));
  return { master: node(master.port), replicas, slot };
}

/** Waits until a node other than `old` serves the course's partition (a replica was promoted). */
function promoted(world, old) {
  return until(
    `a replica to take over from :${old.port}`,
    async () => {
      const now = await partitionNodes(world, world.courseId).catch(() => null);
      return now !== null && now.master !== old && isRunning(now.master);
    },
    30_000,
  );
}

const clusterServers = {
  /** Six nodes, then `redis-cli --cluster create` with one replica per master. */
  async create(world) {
    await Promise.all(world.cluster.map((node) => startRedisServer(node)));
    await createRedisCluster(world.cluster.map((node) => node.port));
    await until('the new cluster to settle', () => clusterSettled(world), 60_000);
  },
  /** Restarts any node a run left down (it rejoins, as a replica if it lost its slots) and waits. */
  async heal(world) {
    for (const node of world.cluster) if (!isRunning(node)) await startRedisServer(node);
    await until('the cluster to settle', () => clusterSettled(world), 60_000);
    // A replica whose master came back must have caught up before it is worth failing over to.
    await sleep(500);
  },
};

const CLUSTER_FAULTS = [
  { name: 'cluster: no fault', inject: async () => ({}) },
  {
    name: 'cluster: CLUSTER FAILOVER on the replica',
    async inject(world) {
      const { master, replicas } = await partitionNodes(world, world.courseId);
      await redisCli(replicas[0].port, 'CLUSTER', 'FAILOVER');
      await promoted(world, master);
      await until('the cluster to settle', () => clusterSettled(world), 30_000);
      return { healedAt: Date.now() };
    },
  },
  {
    name: 'cluster: master kill -9',
    async inject(world) {
      const { master } = await partitionNodes(world, world.courseId);
      master.child.kill('SIGKILL');
      await master.exited;
      await promoted(world, master);
      const healedAt = Date.now();
      // The killed master comes back as a replica of the promoted one (so WAIT has a replica to count).
      await startRedisServer(master);
      await until('the cluster to settle', () => clusterSettled(world), 30_000);
      return { healedAt };
    },
  },
  {
    // A replica cut off from its master (a network partition, a stalled host) and then promoted: what it
    // never received is gone. The replicas are stopped and the master drops their links, so its writes from
    // then on reach no replica. With REDIS_WAIT_REPLICAS=1 none of those was answered 202.
    name: 'cluster: replica cut off 1 s, then master kill -9',
    async inject(world) {
      const { master, replicas } = await partitionNodes(world, world.courseId);
      for (const replica of replicas) replica.child.kill('SIGSTOP');
      await redisCli(master.port, 'CLIENT', 'KILL', 'TYPE', 'replica');
      await sleep(1000);
      master.child.kill('SIGKILL');
      await master.exited;
      for (const replica of replicas) replica.child.kill('SIGCONT');
      await promoted(world, master);
      const healedAt = Date.now();
      await startRedisServer(master);
      await until('the cluster to settle', () => clusterSettled(world), 30_000);
      return { healedAt };
    },
  },
];

/** The promise's value, or null if it has not settled within ms. */
function within(promise, ms) {
  return Promise.race([promise, sleep(ms, null)]);
}

function spawnService(world, role, migrate) {
  const incarnation = (world.incarnations[role] = (world.incarnations[role] ?? 0) + 1);
  const name = `${role}-${incarnation}`;
  const port = world.ports[role];
  const child = spawn(process.execPath, [world.main], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      ROLE: role,
      DATABASE_URL: world.databaseUrl,
      ...(CLUSTER
        ? {
            REDIS_MODE: 'cluster',
            REDIS_NODES: world.cluster.map((node) => `127.0.0.1:${node.port}`).join(','),
          }
        : { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(world.redis.port) }),
      REDIS_WAIT_REPLICAS: REDIS_WAIT,
      QUEUE_PREFIX,
      ADMIN_TOKEN,
      CLIENT_TOKENS: CLIENT_TOKEN,
      SERVER_PORT: String(port),
      RUN_MIGRATIONS: String(migrate),
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      DEFAULT_MAX_CREDITS: String(CREDITS),
      WEBHOOK_RETRY_MAX_MS: String(WEBHOOK_RETRY_MAX_MS),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  capture(child, name, { service: true });
  const service = {
    role,
    name,
    child,
    exited: track(child),
    spawnedAt: Date.now(),
    url: `http://127.0.0.1:${port}`,
  };
  world.services[role] = service;
  return service;
}

async function waitReady(service, ms = READY_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (service.child.exitCode !== null || service.child.signalCode !== null) {
      throw new Error(
        `${service.name} exited (${service.child.exitCode ?? service.child.signalCode}) before it was ready`,
      );
    }
    const answer = await fetch(`${service.url}/ready`, { signal: AbortSignal.timeout(2000) }).catch(
      () => null,
    );
    await answer?.body?.cancel();
    if (answer?.status === 200) return;
    if (Date.now() > deadline)
      throw new Error(`${service.name} was not ready ${ms / 1000} s after it started`);
    await sleep(200);
  }
}

/** Starts a service process; resolves once it is ready, with the moment it was spawned. */
async function startService(world, role, migrate = false) {
  const service = spawnService(world, role, migrate);
  await waitReady(service);
  return service.spawnedAt;
}

async function killService(world, role) {
  const service = world.services[role];
  service.child.kill('SIGKILL');
  await service.exited;
}

/** For a service or a server entry: its child process has not exited. */
const isRunning = (holder) => holder?.child.exitCode === null && holder.child.signalCode === null;

/** Before each run: both servers up, both processes up and ready; anything a failed run left down is restarted. */
async function ensureHealthy(world) {
  if (!existsSync(join(pgData, 'postmaster.pid'))) await pgServer.start(world);
  if (CLUSTER) await clusterServers.heal(world);
  else if (!isRunning(world.redis)) await redisServer.start(world);
  for (const role of ['api', 'worker']) {
    const service = world.services[role];
    if (isRunning(service)) {
      try {
        await waitReady(service);
        continue;
      } catch (error) {
        log(`${service.name}: ${error.message}; restarting it`);
        service.child.kill('SIGKILL');
        await service.exited;
      }
    } else {
      log(`${service.name} is not running; starting it again`);
    }
    await startService(world, role);
  }
}

async function query(world, sql, params = []) {
  const client = new pg.Client({
    connectionString: world.databaseUrl,
    connectionTimeoutMillis: 2000,
    query_timeout: 10_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function startWorld() {
  dir = mkdtempSync(join(tmpdir(), 'courseflow-chaos-'));
  mkdirSync(join(dir, 'logs'));
  // PostgreSQL runs as postgres and keeps its data, socket and log here.
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres', dir]);
  pgData = join(dir, 'data');
  // The services run the build this run began with: `npm run build` empties dist/ first, so a rebuild by
  // anyone meanwhile would leave a process restarted by a fault with no program.
  const app = join(dir, 'app');
  cpSync('dist', join(app, 'dist'), { recursive: true });
  cpSync('package.json', join(app, 'package.json'));
  symlinkSync(resolve('node_modules'), join(app, 'node_modules'));
  const taken = new Set();
  const world = {
    pg: { port: await freePort(taken) },
    redis: { port: await freePort(taken), incarnation: 0, name: 'redis' },
    ports: { api: await freePort(taken), worker: await freePort(taken) },
    services: {},
    incarnations: {},
    receiver: await startReceiver(await freePort(taken)),
    main: join(app, 'dist', 'main.js'),
  };
  world.redis.dir = join(dir, 'redis');
  if (CLUSTER) {
    world.cluster = [];
    for (let i = 0; i < 6; i += 1) {
      const port = await freePort(taken);
      const busPort = await freePort(taken);
      world.cluster.push({
        port,
        busPort,
        incarnation: 0,
        name: `redis-${port}`,
        dir: join(dir, `redis-${port}`),
        cluster: true,
      });
    }
  }
  world.databaseUrl = `postgres://postgres@127.0.0.1:${world.pg.port}/courseflow`;
  log(
    `temp dir ${dir}; PostgreSQL :${world.pg.port}, Redis ${CLUSTER ? `cluster :${world.cluster.map((node) => node.port).join(',:')}` : `:${world.redis.port}`}, API :${world.ports.api}, worker :${world.ports.worker}, webhook receiver ${world.receiver.url}`,
  );
  await exec(...asPostgres(`${PG_BIN}/initdb -D ${pgData} -A trust -U postgres --no-sync`), {
    cwd: dir,
    timeout: 120_000,
  });
  await pgServer.start(world);
  const admin = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${world.pg.port}/postgres`,
  });
  await admin.connect();
  await admin.query('CREATE DATABASE courseflow');
  await admin.end();
  if (CLUSTER) await clusterServers.create(world);
  else await redisServer.start(world);
  // The API migrates the empty database; the worker starts once the schema is there.
  await startService(world, 'api', true);
  await startService(world, 'worker', false);
  return world;
}

/** Jobs still waiting or running in Redis (BullMQ's lists and sets), or null if Redis does not answer. */
async function queuedJobs(world) {
  const options = {
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  };
  const redis = CLUSTER
    ? new Cluster(
        world.cluster.filter(isRunning).map((node) => ({ host: '127.0.0.1', port: node.port })),
        {
          redisOptions: options,
          lazyConnect: true,
          enableOfflineQueue: false,
          clusterRetryStrategy: () => null,
        },
      )
    : new Redis({ host: '127.0.0.1', port: world.redis.port, ...options });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    if (CLUSTER) {
      // A SCAN sees one node; the partition queues' names are known.
      world.queues ??= Array.from({ length: PARTITIONS }, (_, p) => `${QUEUE_PREFIX}:allocation-{p${p}}`);
    } else if (!world.queues?.length) {
      const queues = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${QUEUE_PREFIX}:*:meta`, 'COUNT', 1000);
        cursor = next;
        queues.push(...keys.map((key) => key.slice(0, -':meta'.length)));
      } while (cursor !== '0');
      world.queues = queues;
    }
    let waiting = 0;
    let failed = 0;
    for (const queue of world.queues) {
      const counts = await redis
        .multi()
        .llen(`${queue}:wait`)
        .llen(`${queue}:paused`)
        .llen(`${queue}:active`)
        .zcard(`${queue}:prioritized`)
        .zcard(`${queue}:delayed`)
        .zcard(`${queue}:waiting-children`)
        .zcard(`${queue}:failed`)
        .exec();
      const [wait, paused, active, prioritized, delayed, children, failedJobs] = counts.map(([, n]) => n);
      waiting += wait + paused + active + prioritized + delayed + children;
      failed += failedJobs;
    }
    return { waiting, failed };
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------- the faults

/** Stops a dependency, SIGTERMs a process meanwhile, and times its exit; then heals both. */
async function sigtermWhileDown(world, role, down, up) {
  await down(world);
  await sleep(1000); // let the process run into the outage before it is asked to stop
  const service = world.services[role];
  // A process the outage alone brought down is reported as such, not as a quick exit.
  const before = !isRunning(service);
  const signalledAt = Date.now();
  service.child.kill('SIGTERM');
  const exited = await within(service.exited, EXIT_MS);
  const exit = exited
    ? { code: exited.code, signal: exited.signal, seconds: (exited.at - signalledAt) / 1000, before }
    : { hung: true, seconds: EXIT_MS / 1000 };
  if (!exited) await killService(world, role);
  await up(world);
  return { healedAt: await startService(world, role), exit };
}

const FAULTS = [
  {
    name: 'pg stop -m immediate, down 3 s',
    async inject(world) {
      await pgServer.stop();
      await sleep(3000);
      await pgServer.start(world);
      return { healedAt: Date.now() };
    },
  },
  {
    name: 'pg stop -m immediate, down 30 s',
    async inject(world) {
      await pgServer.stop();
      await sleep(30_000);
      await pgServer.start(world);
      return { healedAt: Date.now() };
    },
  },
  {
    name: 'pg restart -m fast',
    async inject(world) {
      await pgServer.restart(world);
      return { healedAt: Date.now() };
    },
  },
  {
    name: 'redis kill -9, back after 3 s',
    async inject(world) {
      await redisServer.kill(world);
      await sleep(3000);
      await redisServer.start(world);
      return { healedAt: Date.now() };
    },
  },
  {
    name: 'redis shutdown, back after 3 s',
    async inject(world) {
      await redisServer.shutdown(world);
      await sleep(3000);
      await redisServer.start(world);
      return { healedAt: Date.now() };
    },
  },
  {
    name: 'api kill -9',
    async inject(world) {
      await killService(world, 'api');
      return { healedAt: await startService(world, 'api') };
    },
  },
  {
    name: 'worker kill -9',
    async inject(world) {
      await killService(world, 'worker');
      return { healedAt: await startService(world, 'worker') };
    },
  },
  {
    name: 'api SIGTERM while redis down',
    inject: (world) => sigtermWhileDown(world, 'api', redisServer.kill, redisServer.start),
  },
  {
    name: 'worker SIGTERM while redis down',
    inject: (world) => sigtermWhileDown(world, 'worker', redisServer.kill, redisServer.start),
  },
  {
    name: 'api SIGTERM while pg down',
    inject: (world) => sigtermWhileDown(world, 'api', pgServer.stop, pgServer.start),
  },
  {
    name: 'worker SIGTERM while pg down',
    inject: (world) => sigtermWhileDown(world, 'worker', pgServer.stop, pgServer.start),
  },
];

// ---------------------------------------------------------------- the stampede

/** mulberry32: the same seed gives the same stampede. */
function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * 1,850 students with one key each, then, at random later places in the stream, 150 exact repeats of an
 * earlier request and 50 second keys of students who already sent one (same priority, so a decided first
 * key makes the second one a rejection).
 */
function stampedeRequests(courseId, companionId, swapCourseId, tag, random) {
  const firsts = Array.from({ length: STUDENTS }, (_, i) => ({
    student_id: `${tag}-s${i}`,
    course_id: courseId,
    priority: PRIORITIES[Math.floor(random() * PRIORITIES.length)],
    idempotency_key: `${tag}-k${i}`,
  }));
  const students = firsts.map((_, i) => i);
  for (let i = students.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [students[i], students[j]] = [students[j], students[i]];
  }
  const placed = firsts.map((request, i) => ({ request, kind: 'first', place: i }));
  // A repeat goes somewhere after its original (place + 0.5 sorts it between two originals).
  const later = (i) => i + 1 + Math.floor(random() * (STUDENTS - i)) - 0.5;
  for (const i of students.slice(0, DUPLICATES)) {
    placed.push({ request: firsts[i], kind: 'duplicate', place: later(i) });
  }
  for (const i of students.slice(DUPLICATES, DUPLICATES + SECOND_KEYS)) {
    const request = { ...firsts[i], idempotency_key: `${firsts[i].idempotency_key}-again` };
    placed.push({ request, kind: 'second key', place: later(i) });
  }
  for (const [n, i] of students.slice(0, COMPANION_STUDENTS).entries()) {
    const request = {
      ...firsts[i],
      course_id: companionId,
      idempotency_key: `${firsts[i].idempotency_key}-b`,
    };
    const place = random() * STUDENTS;
    placed.push({ request, kind: 'companion', place });
    if (n >= SWAP_STUDENTS) continue;
    const swap = {
      ...request,
      course_id: swapCourseId,
      idempotency_key: `${firsts[i].idempotency_key}-s`,
      swap_for: request.idempotency_key,
    };
    placed.push({ request: swap, kind: 'swap', place: place + (STUDENTS - place) * random() });
  }
  return placed.sort((a, b) => a.place - b.place);
}

/**
 * A portal's client: on a 5xx, a timeout or a refused connection it sends the SAME request again after
 * Retry-After (or 1 s), until it gets a 2xx or 4xx or the stampede's deadline passes. Every answer is kept.
 */
async function sendUntilAnswered(url, request, answers, deadline) {
  const body = JSON.stringify(request);
  const key = request.idempotency_key;
  if (!answers.has(key)) answers.set(key, []);
  for (;;) {
    let status;
    let bodyStatus = null;
    let stored = false;
    let waitSeconds = 1;
    try {
      const response = await fetch(`${url}/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_TOKEN}` },
        body,
        signal: AbortSignal.timeout(ATTEMPT_MS),
      });
      status = response.status;
      const answer = await response.json().catch(() => null);
      bodyStatus = answer?.status ?? null;
      // REDIS_WAIT_REPLICAS: the request is stored but no replica confirmed it in time (a retry tells).
      stored = status === 503 && /request is stored/.test(answer?.message ?? '');
      waitSeconds = Math.min(Number(response.headers.get('retry-after')) || 1, 5);
    } catch (error) {
      status = error.name === 'TimeoutError' ? 'timeout' : 'refused';
    }
    answers.get(key).push({ status, bodyStatus, stored, at: Date.now() });
    if (typeof status === 'number' && status < 500) return true;
    if (Date.now() + waitSeconds * 1000 > deadline) return false;
    await sleep(waitSeconds * 1000);
  }
}

async function stampede(url, sends, answers, onAnswered) {
  const deadline = Date.now() + STAMPEDE_MS;
  // A swap is sent by its student once they see the request it names decided, as a portal would.
  const swapOf = new Map(sends.filter((s) => s.request.swap_for).map((s) => [s.request.swap_for, s.request]));
  const stream = sends.filter((s) => !s.request.swap_for);
  const swaps = [];
  let next = 0;
  let answered = 0;
  let gaveUp = 0;
  const send = async (request) => {
    if (await sendUntilAnswered(url, request, answers, deadline)) onAnswered(++answered);
    else gaveUp += 1;
  };
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < stream.length && Date.now() < deadline) {
        const { request } = stream[next++];
        await send(request);
        const swap = swapOf.get(request.idempotency_key);
        if (swap) swaps.push(decidedBy(url, request.idempotency_key, deadline).then(() => send(swap)));
      }
    }),
  );
  await Promise.all(swaps);
  return { gaveUp, unsent: stream.length - next };
}

/** Polls the request until it is decided (or the deadline passes; PostgreSQL may be down meanwhile). */
async function decidedBy(url, key, deadline) {
  while (Date.now() < deadline) {
    const response = await fetch(`${url}/enrollments/${encodeURIComponent(key)}`, {
      headers: { authorization: `Bearer ${CLIENT_TOKEN}` },
      signal: AbortSignal.timeout(ATTEMPT_MS),
    }).catch(() => null);
    const body = await response?.json().catch(() => null);
    if (body?.status && body.status !== 'queued') return;
    await sleep(250);
  }
}

/** An operator's PATCH, sent again until it is answered 200 or the deadline passes. */
async function patchCourse(world, courseId, fields) {
  const deadline = Date.now() + STAMPEDE_MS;
  for (;;) {
    const response = await fetch(`${world.services.api.url}/courses/${courseId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify(fields),
      signal: AbortSignal.timeout(ATTEMPT_MS),
    }).catch(() => null);
    if (response?.status === 200) return true;
    if (Date.now() > deadline) return false;
    await sleep(500);
  }
}

async function createCourse(world, code, meetings, capacity = CAPACITY) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(`${world.services.api.url}/courses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ code, title: 'Chaos', capacity, credits: CREDITS, meetings }),
      signal: AbortSignal.timeout(ATTEMPT_MS),
    }).catch(() => null);
    const body = await response?.json().catch(() => null);
    if (response?.status === 201) return body.id;
    if (Date.now() > deadline) throw new Error(`POST /courses answered ${response?.status ?? 'nothing'}`);
    await sleep(500);
  }
}

/** The offer course: OFFER_SEATS holders and OFFER_WAITING waiting, decided before the stampede. */
async function offerCourse(world, tag) {
  const courseId = await createCourse(world, `${tag.toUpperCase()}O`, [], OFFER_SEATS);
  await patchCourse(world, courseId, { waitlist_mode: 'offer', credits: 0 });
  const requests = Array.from({ length: OFFER_SEATS + OFFER_WAITING }, (_, i) => ({
    student_id: `${tag}-o${i}`,
    course_id: courseId,
    idempotency_key: `${tag}-o${i}`,
  }));
  const answers = new Map();
  const deadline = Date.now() + STAMPEDE_MS;
  for (const request of requests) await sendUntilAnswered(world.services.api.url, request, answers, deadline);
  await waitForDecisions(world, [courseId], new Set(requests.map((r) => r.idempotency_key)));
  return { courseId, holders: requests.slice(0, OFFER_SEATS).map((r) => r.idempotency_key) };
}

/** The holders drop (each seat offered to a waiting student), and the offers' deadlines move into the fault. */
async function openOffers(world, offers) {
  for (const key of offers.holders) {
    await fetch(`${world.services.api.url}/enrollments/${encodeURIComponent(key)}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${CLIENT_TOKEN}` },
      signal: AbortSignal.timeout(ATTEMPT_MS),
    }).catch(() => null);
  }
  const moved = await query(
    world,
    `UPDATE decisions SET offer_expires_at = clock_timestamp() + make_interval(secs => $2::float8 / 1000)
      WHERE course_id = $1 AND status = 'offered' RETURNING idempotency_key`,
    [offers.courseId, OFFER_DEADLINE_MS],
  ).catch(() => []);
  offers.opened = moved.map((row) => row.idempotency_key);
}

/**
 * Waits until every offer opened before the fault has ended (nobody accepts them, so each must expire once
 * its deadline passed and the sweep ran), and no other offer of the course is past its deadline.
 */
async function offersSettled(world, offers) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const [row] = await query(
      world,
      `SELECT count(*) FILTER (WHERE idempotency_key = ANY($2))::int AS opened_live,
              count(*) FILTER (WHERE offer_expires_at <= now())::int AS overdue
         FROM decisions WHERE course_id = $1 AND status = 'offered'`,
      [offers.courseId, offers.opened ?? []],
    ).catch(() => [{ opened_live: -1, overdue: -1 }]);
    if (row.opened_live === 0 && row.overdue === 0) return true;
    await sleep(500);
  }
  return false;
}

/**
 * Offers at rest: the seats held and taken within capacity and matching the rows; each offer opened before
 * the fault ended exactly once (offer_expired, its deadline having passed), and its seat offered on, so
 * every seat is taken or held while anyone waits.
 */
async function checkOffers(world, offers) {
  const [course] = await query(
    world,
    `SELECT c.capacity, c.seats_taken, c.seats_held, c.waitlist_length,
            (SELECT count(*)::int FROM enrollments WHERE course_id = c.id) AS enrolled,
            (SELECT count(*)::int FROM decisions WHERE course_id = c.id AND status = 'offered') AS offered
       FROM courses c WHERE c.id = $1`,
    [offers.courseId],
  );
  const ends = await query(
    world,
    `SELECT idempotency_key, count(*) FILTER (WHERE type IN ('offer_expired', 'promoted'))::int AS ends
       FROM course_events WHERE course_id = $1 AND idempotency_key = ANY($2) GROUP BY 1`,
    [offers.courseId, offers.opened ?? []],
  );
  let violations = 0;
  if (course.seats_taken + course.seats_held > course.capacity) violations += 1;
  if (course.seats_taken !== course.enrolled || course.seats_held !== course.offered) violations += 1;
  if (course.waitlist_length > 0 && course.seats_taken + course.seats_held < course.capacity) violations += 1;
  violations += (offers.opened ?? []).length - ends.filter((row) => row.ends === 1).length;
  return {
    offerViolations: violations,
    offersEnded: ends.filter((row) => row.ends === 1).length,
    offersDetail:
      `offers: ${(offers.opened ?? []).length} opened before the fault, ${ends.filter((row) => row.ends === 1).length} ended once, ` +
      `${course.seats_held} held and ${course.seats_taken} taken of ${course.capacity}, ${course.waitlist_length} waiting`,
  };
}

// ---------------------------------------------------------------- the opening draw

/** The draw course: its entries sent (each until answered) while its period runs; resolves with their keys. */
async function drawCourse(world, tag) {
  const code = `${tag.toUpperCase()}D`;
  const deadline = Date.now() + 30_000;
  let courseId;
  while (courseId === undefined) {
    const response = await fetch(`${world.services.api.url}/courses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({
        code,
        title: 'Chaos opening',
        capacity: DRAW_SEATS,
        opens_at: new Date(Date.now() + 600_000).toISOString(),
        draw_window_s: 600,
        prequeue_s: 1200,
      }),
      signal: AbortSignal.timeout(ATTEMPT_MS),
    }).catch(() => null);
    const body = await response?.json().catch(() => null);
    if (response?.status === 201) courseId = body.id;
    else if (Date.now() > deadline)
      throw new Error(`POST /courses answered ${response?.status ?? 'nothing'}`);
    else await sleep(500);
  }
  const requests = Array.from({ length: DRAW_STUDENTS + DRAW_SECOND_KEYS }, (_, i) => ({
    student_id: `${tag}-d${i % DRAW_STUDENTS}`,
    course_id: courseId,
    priority: i % 5 === 0 ? 10 : 0,
    idempotency_key: `${tag}-d${i}`,
  }));
  const answers = new Map();
  const until = Date.now() + STAMPEDE_MS;
  for (const request of requests) await sendUntilAnswered(world.services.api.url, request, answers, until);
  return { courseId, keys: requests.map((r) => r.idempotency_key) };
}

/** The draw period ends DRAW_END_MS from now (in the database: the API refuses such a change once begun). */
async function endDrawSoon(world, draw) {
  await query(
    world,
    `UPDATE courses SET opens_at = clock_timestamp() + make_interval(secs => $2::float8 / 1000)
                                   - make_interval(secs => draw_window_s)
      WHERE id = $1`,
    [draw.courseId, DRAW_END_MS],
  ).catch(() => undefined);
}

/**
 * The draw at rest: made once (one drawn event, the stored order with every entry), the order the one
 * recomputed here from the revealed seed, each entry decided once with its draw_rank, in draw order (decision
 * numbers rising along it), and a student's second key ending already_*. Each failing check counts one.
 */
async function checkDraw(world, draw) {
  const [stored] = await query(
    world,
    `SELECT d.seed, d.entries, c.draw_pending,
            (SELECT count(*)::int FROM course_changes WHERE course_id = c.id AND type = 'drawn') AS drawn_events
       FROM course_draws d JOIN courses c ON c.id = d.course_id WHERE d.course_id = $1`,
    [draw.courseId],
  );
  const rows = await query(
    world,
    `SELECT idempotency_key, student_id, priority, requested_at, draw_rank, decision_seq, decided_as, reason
       FROM decisions WHERE course_id = $1 ORDER BY draw_rank`,
    [draw.courseId],
  );
  const order = (stored?.entries ?? []).map((entry) => entry.idempotencyKey);
  const ticket = (student) =>
    createHmac('sha256', stored.seed).update(`${draw.courseId}:${student}`).digest('hex');
  const recomputed = [...rows]
    .sort(
      (a, b) =>
        b.priority - a.priority ||
        ticket(a.student_id).localeCompare(ticket(b.student_id)) ||
        a.requested_at - b.requested_at ||
        a.draw_rank - b.draw_rank,
    )
    .map((row) => row.idempotency_key);
  const seqs = rows.map((row) => row.decision_seq);
  const firstKey = new Map();
  const failures = [
    [!stored || stored.draw_pending, 'the draw was not carried out'],
    [stored?.drawn_events !== 1, `${stored?.drawn_events} drawn events`],
    [rows.length !== draw.keys.length, `${rows.length} of ${draw.keys.length} entries decided`],
    [
      order.join() !== rows.map((row) => row.idempotency_key).join(),
      'the stored order differs from the ranks',
    ],
    [recomputed.join() !== order.join(), 'the recomputed order differs'],
    [rows.some((row, i) => row.draw_rank !== i + 1), 'draw ranks are not 1..n'],
    [seqs.some((seq, i) => i > 0 && seq < seqs[i - 1]), 'decided out of draw order'],
    [
      rows.some((row) => {
        const first = firstKey.get(row.student_id);
        if (!first) {
          firstKey.set(row.student_id, row);
          return false;
        }
        return ['enrolled', 'waitlisted'].includes(first.decided_as) && !/^already_/.test(row.reason ?? '');
      }),
      "a student's second key took a place",
    ],
  ].filter(([failed]) => failed);
  return {
    drawViolations: failures.length,
    drawEntries: rows.length,
    drawDetail:
      `draw: ${rows.length} entries decided, ${rows.filter((row) => row.decided_as === 'enrolled').length} enrolled` +
      (failures.length ? ` (${failures.map(([, what]) => what).join('; ')})` : ', order verified'),
  };
}

// ---------------------------------------------------------------- webhooks

/** Is `header` (t=<unix s>,v1=<hex>) the HMAC-SHA256 of "<t>.<raw body>" under the secret, t within tolerance? */
function signatureValid(secret, rawBody, header) {
  const parts = new Map(
    String(header ?? '')
      .split(',')
      .map((part) => [part.slice(0, part.indexOf('=')).trim(), part.slice(part.indexOf('=') + 1).trim()]),
  );
  const t = Number(parts.get('t'));
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > WEBHOOK_TOLERANCE_S) return false;
  const given = Buffer.from(parts.get('v1') ?? '', 'hex');
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The world's webhook receiver on 127.0.0.1. Each call is kept (for the webhooks registered in `active`)
 * with two marks on one counter, `tick`: when it arrived and when it was answered, so "event n+1 arrived
 * after event n was answered 2xx" is exact (the sender needs the answer before it may send the next). A
 * slow answer whose sender gave up first (the socket closed) is kept as `abandoned`, not as answered.
 */
async function startReceiver(port) {
  const receiver = {
    url: `http://127.0.0.1:${port}/courseflow-events`,
    secret: `chaos-whsec-${randomBytes(16).toString('hex')}`,
    active: new Map(), // webhook id -> its calls
    tick: 0,
    count: 0,
    badSignatures: 0,
    failedAt: new Map(), // course id -> when a call of it was last answered 500
    slowedAt: 0, // when a call was last held past the try's timeout
    slowPending: new Set(),
  };
  receiver.server = createServer((req, res) => {
    const arrived = ++receiver.tick;
    const chunks = [];
    let gone = false;
    res.once('close', () => {
      if (!res.writableFinished) gone = true;
    });
    req.on('data', (chunk) => chunks.push(chunk));
    req.once('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const signed = signatureValid(receiver.secret, raw, req.headers['courseflow-signature']);
      if (!signed) receiver.badSignatures += 1;
      let body = null;
      try {
        body = JSON.parse(raw);
      } catch {
        // Kept as a call with no event: its signature decides whether it counts.
      }
      const event = body?.event;
      const call = {
        webhookId: String(body?.webhook_id),
        id: event?.id,
        courseId: Number(event?.course_id),
        seq: Number(event?.cursor),
        type: event?.type,
        signed,
        arrived,
        at: Date.now(),
        status: null,
        answered: null,
      };
      receiver.active.get(call.webhookId)?.push(call);
      const n = ++receiver.count;
      const now = Date.now();
      let status = 200;
      let delay = 0;
      if (n % WEBHOOK_SLOW_EVERY === 0 && now - receiver.slowedAt > WEBHOOK_SLOW_GAP_MS) {
        receiver.slowedAt = now;
        delay = WEBHOOK_SLOW_MS;
      } else if (
        n % WEBHOOK_FAIL_EVERY === 0 &&
        now - (receiver.failedAt.get(call.courseId) ?? 0) > WEBHOOK_FAIL_GAP_MS
      ) {
        receiver.failedAt.set(call.courseId, now);
        status = 500;
      }
      const answer = () => {
        receiver.slowPending.delete(timer);
        if (gone) {
          call.status = 'abandoned';
          return;
        }
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'chaos says no');
        call.status = status;
        call.answered = ++receiver.tick;
      };
      const timer = delay > 0 ? setTimeout(answer, delay) : null;
      if (timer) receiver.slowPending.add(timer);
      else answer();
    });
  });
  await new Promise((resolve, reject) => {
    receiver.server.once('error', reject);
    receiver.server.listen(port, '127.0.0.1', resolve);
  });
  return receiver;
}

function stopReceiver(receiver) {
  for (const timer of receiver.slowPending) clearTimeout(timer);
  receiver.server.closeAllConnections();
  receiver.server.close();
}

/** POST /admin/webhooks for every event of every course, sent again until answered 201; resolves with its id. */
async function registerWebhook(world) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(`${world.services.api.url}/admin/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ url: world.receiver.url, secret: world.receiver.secret, events: ['*'] }),
      signal: AbortSignal.timeout(ATTEMPT_MS),
    }).catch(() => null);
    const body = await response?.json().catch(() => null);
    if (response?.status === 201) {
      world.receiver.active.set(body.id, []);
      return { id: body.id, badBefore: world.receiver.badSignatures };
    }
    if (Date.now() > deadline)
      throw new Error(`POST /admin/webhooks answered ${response?.status ?? 'nothing'}`);
    await sleep(500);
  }
}

/** The run's webhook is removed (else every later run's events would go to every earlier run's webhook too). */
async function removeWebhook(world, webhook) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(`${world.services.api.url}/admin/webhooks/${webhook.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: AbortSignal.timeout(ATTEMPT_MS),
    }).catch(() => null);
    await response?.body?.cancel();
    if (response?.status === 204 || response?.status === 404 || Date.now() > deadline) break;
    await sleep(500);
  }
  world.receiver.active.delete(webhook.id);
  world.webhook = null;
}

/** Waits (WEBHOOK_MS at most) until every event of the courses in the record has reached the receiver. */
async function webhookSettled(world, webhook, courseIds) {
  const deadline = Date.now() + WEBHOOK_MS;
  const calls = world.receiver.active.get(webhook.id);
  for (;;) {
    const record = await query(
      world,
      'SELECT course_id, seq, type FROM course_events WHERE course_id = ANY($1) ORDER BY course_id, seq',
      [courseIds],
    ).catch(() => null);
    if (record) {
      const received = new Set(calls.map((call) => `${call.courseId}-${call.seq}`));
      if (record.every((event) => received.has(`${event.course_id}-${event.seq}`))) return record;
      if (Date.now() > deadline) return record;
    } else if (Date.now() > deadline) {
      throw new Error('the event record could not be read');
    }
    await sleep(500);
  }
}

/**
 * Webhooks at rest (contract v3): every event of the run's courses in the record received at least once
 * (a missing one counts one); per course, the first receipts in commit order, each event first received
 * after the one before it was answered 2xx, and every delivery the record's own event (each failing pair
 * or stranger counts one); every signature valid. Receipts after a 2xx of the same event are the at-least-
 * once redeliveries, a figure.
 */
async function checkWebhook(world, webhook, courseIds) {
  const waitStartedAt = Date.now();
  const record = await webhookSettled(world, webhook, courseIds);
  const waitSeconds = (Date.now() - waitStartedAt) / 1000;
  const calls = world.receiver.active.get(webhook.id).filter((call) => courseIds.includes(call.courseId));
  const byEvent = new Map();
  for (const call of calls) {
    const key = `${call.courseId}-${call.seq}`;
    if (!byEvent.has(key)) byEvent.set(key, []);
    byEvent.get(key).push(call);
  }
  for (const received of byEvent.values()) received.sort((a, b) => a.arrived - b.arrived);
  const recorded = new Map(record.map((event) => [`${event.course_id}-${event.seq}`, event]));
  const problems = [];
  let missing = 0;
  let orderViolations = 0;
  let redelivered = 0;
  for (const courseId of courseIds) {
    let before = null;
    const missed = [];
    for (const event of record.filter((e) => e.course_id === courseId)) {
      const key = `${courseId}-${event.seq}`;
      const received = byEvent.get(key) ?? [];
      if (received.length === 0) {
        missed.push(event.seq);
        continue;
      }
      const first = received[0];
      const okAt = firstAnswered2xx(received);
      redelivered += received.filter((call) => call.arrived > okAt).length;
      if (received.some((call) => call.id !== key || call.type !== event.type)) {
        orderViolations += 1;
        problems.push(
          `course ${courseId} seq ${event.seq}: delivered as ${first.id} ${first.type}, recorded ${event.type}`,
        );
      }
      if (before) {
        if (first.arrived < before.received[0].arrived) {
          orderViolations += 1;
          problems.push(`course ${courseId}: seq ${event.seq} first received before seq ${before.seq}`);
        } else if (first.arrived < firstAnswered2xx(before.received)) {
          orderViolations += 1;
          problems.push(
            `course ${courseId}: seq ${event.seq} received before seq ${before.seq} was answered 2xx ` +
              `(${before.seq}: ${before.received.map((call) => call.status).join(',')})`,
          );
        }
      }
      before = { seq: event.seq, received };
    }
    missing += missed.length;
    if (missed.length > 0) {
      problems.push(
        `course ${courseId}: ${missed.length} events never received (seq ${missed.slice(0, 5).join(', ')}${missed.length > 5 ? ', …' : ''})`,
      );
    }
  }
  const strangers = [...byEvent.keys()].filter((key) => !recorded.has(key));
  if (strangers.length > 0) {
    orderViolations += strangers.length;
    problems.push(
      `${strangers.length} deliveries of events not in the record (${strangers.slice(0, 3).join(', ')})`,
    );
  }
  if (missing > 0) problems.push(...(await webhookState(world, webhook, courseIds)));
  const answered = calls.filter((call) => call.status !== null);
  const count = (pick) => answered.filter(pick).length;
  return {
    webhookMissing: missing,
    webhookOrderViolations: orderViolations,
    webhookBadSignatures: world.receiver.badSignatures - webhook.badBefore,
    webhookEvents: record.length,
    webhookRedelivered: redelivered,
    webhookProblems: problems.slice(0, 10),
    webhookDetail:
      `webhook: ${record.length} events, ${calls.length} calls (${count((call) => call.status === 500)} answered 500, ` +
      `${count((call) => call.status === 'abandoned')} abandoned after ${WEBHOOK_SLOW_MS / 1000} s), ` +
      `${redelivered} redelivered, ${missing} missing, all received ${waitSeconds.toFixed(1)} s after rest`,
  };
}

/** The tick of an event's first 2xx answer (Infinity if none). */
const firstAnswered2xx = (received) =>
  Math.min(
    ...received.filter((call) => call.status >= 200 && call.status < 300).map((call) => call.answered),
  );

/** What the service says of an incomplete webhook: its cursors and its failing deliveries. */
async function webhookState(world, webhook, courseIds) {
  const cursors = await query(
    world,
    `SELECT c.id, c.events_written, k.delivered_seq, k.attempts, k.last_error, k.next_attempt_at
       FROM courses c LEFT JOIN webhook_cursors k ON k.course_id = c.id AND k.webhook_id = $1
      WHERE c.id = ANY($2) ORDER BY c.id`,
    [webhook.id, courseIds],
  ).catch((error) => [{ error: error.message }]);
  const response = await fetch(
    `${world.services.api.url}/admin/webhooks/${webhook.id}/deliveries?state=failing`,
    { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(ATTEMPT_MS) },
  ).catch(() => null);
  const failing = await response?.text().catch(() => null);
  return [
    `webhook ${webhook.id} cursors: ${JSON.stringify(cursors)}`,
    `webhook ${webhook.id} failing: ${String(failing).slice(0, 600)}`,
  ];
}

// ---------------------------------------------------------------- waiting and checking

/** What the clients were told, per key. */
function summarize(answers) {
  const accepted = new Set();
  const queuedReplies = new Set();
  const acceptedTwice = new Set();
  /** A 503 promises nothing was kept, so a retry of it must be a 202, never a 200. */
  const keptAfter503 = new Set();
  /**
   * Ms by which the key's job was certainly stored: its first 202, or else its first 200 with a decision. (A
   * 200 "queued" proves only the claim: a repeat can arrive while the original's job is still being stored.)
   */
  const queuedBy = new Map();
  const decidedBy = new Map();
  const statuses = {};
  /** 503s that said the request was stored but not confirmed by enough replicas (REDIS_WAIT_REPLICAS). */
  const storedUnconfirmed = new Set();
  for (const [key, list] of answers) {
    for (const [index, { status, bodyStatus, stored, at }] of list.entries()) {
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status === 202) {
        if (accepted.has(key)) acceptedTwice.add(key);
        accepted.add(key);
      }
      if (status === 200 && bodyStatus === 'queued') queuedReplies.add(key);
      if (status === 202 && !queuedBy.has(key)) queuedBy.set(key, at);
      const before = list.slice(0, index);
      if (status === 200 && !accepted.has(key) && before.some((a) => a.status === 503 && !a.stored)) {
        keptAfter503.add(key);
      }
      if (status === 503 && stored) storedUnconfirmed.add(key);
      if (status === 200 && bodyStatus !== 'queued' && bodyStatus !== null && !decidedBy.has(key)) {
        decidedBy.set(key, at);
      }
    }
  }
  for (const [key, at] of decidedBy) if (!queuedBy.has(key)) queuedBy.set(key, at);
  return { accepted, queuedReplies, acceptedTwice, keptAfter503, storedUnconfirmed, queuedBy, statuses };
}

/** Polls PostgreSQL until every key the service acknowledged has a decision, or it is plain none will come. */
async function waitForDecisions(world, courseIds, keys) {
  const deadline = Date.now() + DECISIONS_MS;
  let decided = 0;
  let progressAt = Date.now();
  for (;;) {
    const rows = await query(world, 'SELECT idempotency_key FROM decisions WHERE course_id = ANY($1)', [
      courseIds,
    ]).catch(() => null);
    if (rows) {
      const count = rows.filter((row) => keys.has(row.idempotency_key)).length;
      if (count === keys.size) return 'all decided';
      if (count > decided) [decided, progressAt] = [count, Date.now()];
    }
    const idle = Date.now() - progressAt;
    const jobs = idle > EMPTY_QUEUE_MS ? await queuedJobs(world) : null;
    if (jobs?.waiting === 0)
      return `gave up: no job left in Redis (${jobs.failed} failed) and no decision for ${EMPTY_QUEUE_MS / 1000} s`;
    if (idle > STALL_MS) return `gave up: no new decision for ${STALL_MS / 1000} s`;
    if (Date.now() > deadline) return `gave up: deadline (${DECISIONS_MS / 1000} s)`;
    await sleep(500);
  }
}

/**
 * Arbitration order (docs/guarantees.md §4), by outcome: a request B that got a better place than a request
 * A that precedes it (higher priority, or equal priority and accepted earlier) is out of place if A was
 * already queued when B's job was taken. Requests are decided as they arrive, so a seat may rightly go to
 * an early low-priority request; the moment B's job was taken is bounded below by the start of the
 * course's previous allocation transaction (one batch at a time per partition, each committed before the
 * next head job is taken and its followers read), and A's queueing above by the client's receipt of its
 * 202. Two requests of one transaction are judged by the same rule: the batch's head job was taken before
 * the jobs behind it were read, so a higher-priority request queued in between rightly comes after it.
 * Rejected requests (second keys) hold no place and are left out.
 */
function orderViolations(placed, transactionStarts, queuedBy) {
  const starts = [...new Set(transactionStarts)].sort((a, b) => a - b);
  const previousStart = new Map(starts.map((start, i) => [start, i > 0 ? starts[i - 1] : -Infinity]));
  const precedes = (a, b) =>
    a.priority > b.priority || (a.priority === b.priority && a.requestedUs < b.requestedUs);
  // Enrolled is 0, waitlisted its position: lower is better.
  const rank = (r) => (r.status === 'enrolled' ? 0 : r.position);
  const outOfPlace = [];
  for (const b of placed) {
    const takenAfter = previousStart.get(b.decidedUs);
    for (const a of placed) {
      if (a === b || !precedes(a, b) || rank(b) >= rank(a)) continue;
      const queuedUs = (queuedBy.get(a.key) ?? Infinity) * 1000;
      if (queuedUs < takenAfter) {
        outOfPlace.push({ a, b, queuedUs, takenAfter });
        break;
      }
    }
  }
  return outOfPlace;
}

/** One out-of-place pair, for the progress log. */
function describeViolation({ a, b, queuedUs, takenAfter }) {
  const at = (us) => (Number.isFinite(us) ? new Date(us / 1000).toISOString().slice(11, 23) : 'never');
  const place = (r) => (r.status === 'enrolled' ? 'enrolled' : `waitlisted #${r.position}`);
  return (
    `${b.key} (priority ${b.priority}, accepted ${at(b.requestedUs)}) ${place(b)} at ${at(b.decidedUs)}, ` +
    `ahead of ${a.key} (priority ${a.priority}, accepted ${at(a.requestedUs)}, 202 by ${at(queuedUs)}) ` +
    `${place(a)} at ${at(a.decidedUs)}; the transaction before began ${at(takenAfter)}`
  );
}

async function check(world, courseId, companionId, swapCourseId, tag, told, healedAt) {
  // Microseconds since the epoch as exact integers: a JS Date would round two transactions together.
  const allDecisions = await query(
    world,
    `SELECT d.idempotency_key AS key, d.priority, d.status, d.course_id,
            (extract(epoch FROM d.requested_at) * 1e6)::bigint::text AS requested_us,
            (extract(epoch FROM d.decided_at) * 1e6)::bigint::text AS decided_us,
            e.idempotency_key IS NOT NULL AS has_seat, w.position
       FROM decisions d
       LEFT JOIN enrollments e ON e.idempotency_key = d.idempotency_key
       LEFT JOIN waitlist_entries w ON w.idempotency_key = d.idempotency_key
      WHERE d.course_id = ANY($1)`,
    [[courseId, companionId, swapCourseId]],
  );
  // Arbitration order is the course's own; the companion's decisions count for lost and doubled.
  const decisions = allDecisions.filter((d) => d.course_id === courseId);
  const [counts] = await query(
    world,
    `SELECT c.capacity, c.seats_taken,
            (SELECT count(*)::int FROM enrollments WHERE course_id = c.id) AS enrollments,
            (SELECT count(*)::int FROM (SELECT idempotency_key FROM decisions WHERE course_id = c.id
                                         GROUP BY 1 HAVING count(*) > 1) k) AS keys_twice,
            (SELECT count(*)::int FROM (SELECT student_id FROM (SELECT student_id FROM enrollments WHERE course_id = c.id
                                                                UNION ALL
                                                                SELECT student_id FROM waitlist_entries WHERE course_id = c.id) h
                                         GROUP BY 1 HAVING count(*) > 1) s) AS students_twice,
            (SELECT count(*)::int FROM enrollments e WHERE e.course_id = c.id AND NOT EXISTS
               (SELECT 1 FROM decisions d WHERE d.idempotency_key = e.idempotency_key AND d.status = 'enrolled')) AS seats_without_decision,
            (SELECT count(*)::int FROM waitlist_entries w WHERE w.course_id = c.id AND NOT EXISTS
               (SELECT 1 FROM decisions d WHERE d.idempotency_key = w.idempotency_key AND d.status = 'waitlisted')) AS places_without_decision
       FROM courses c WHERE c.id = $1`,
    [courseId],
  );
  // Recovery: from the heal to the first decision committed after it.
  const [first] =
    healedAt === undefined
      ? [{ at: null }]
      : await query(
          world,
          `SELECT (extract(epoch FROM min(decided_at)) * 1000)::float8 AS at
             FROM decisions WHERE course_id = $1 AND decided_at >= to_timestamp($2::float8 / 1000)`,
          [courseId, healedAt],
        );

  const decidedKeys = new Set(allDecisions.map((d) => d.key));
  const decidedAccepted = [...told.accepted].filter((key) => decidedKeys.has(key)).length;
  // A decision whose own row is missing (an enrolled decision with no seat...) is counted with the doubles:
  // either way a request's one outcome and the course's state disagree.
  const decisionsWithoutRow = allDecisions.filter(
    (d) => (d.status === 'enrolled' && !d.has_seat) || (d.status === 'waitlisted' && d.position === null),
  ).length;
  const seatsWrong = counts.seats_taken !== counts.enrollments || counts.seats_taken > counts.capacity;
  const placed = decisions
    .filter((d) => d.status === 'enrolled' || d.status === 'waitlisted')
    .map((d) => ({
      key: d.key,
      priority: d.priority,
      status: d.status,
      position: d.position,
      requestedUs: Number(d.requested_us),
      decidedUs: Number(d.decided_us),
    }));
  const violations = orderViolations(
    placed,
    decisions.map((d) => Number(d.decided_us)),
    told.queuedBy,
  );
  // Guarantee 8 at rest: no student of the run holds more credits than the limit, and every load row is
  // what the student holds.
  const [schedules] = await query(
    world,
    `SELECT (SELECT count(*)::int FROM (SELECT e.student_id FROM enrollments e JOIN courses c ON c.id = e.course_id
                                        WHERE e.student_id LIKE $1 GROUP BY 1 HAVING sum(c.credits) > $2) o) AS over_limit,
            (SELECT count(*)::int FROM student_loads l
               LEFT JOIN (SELECT e.student_id, sum(c.credits) AS credits FROM enrollments e
                            JOIN courses c ON c.id = e.course_id GROUP BY 1) e ON e.student_id = l.student_id
               LEFT JOIN (SELECT student_id, count(*) AS waiting
                            FROM (SELECT student_id FROM waitlist_entries
                                  UNION ALL SELECT student_id FROM decisions WHERE status = 'offered') x
                           GROUP BY 1) w
                      ON w.student_id = l.student_id
              WHERE l.student_id LIKE $1 AND (l.enrolled_credits <> COALESCE(e.credits, 0)
                                              OR l.waitlisted_count <> COALESCE(w.waiting, 0))) AS loads_wrong,
            (SELECT count(*)::int FROM decisions WHERE course_id = ANY($3) AND reason = 'max_credits') AS refused`,
    [`${tag}-%`, CREDITS, [courseId, companionId, swapCourseId]],
  );
  // Swaps: never both, never neither. A swap seated (its decision or its promotion) and its named request
  // dropped with reason swapped go together, in one commit (one txid), or neither happens.
  const [swaps] = await query(
    world,
    `SELECT count(*) FILTER (WHERE a.status = 'enrolled')::int AS swapped,
            count(*) FILTER (WHERE a.status = 'waitlisted')::int AS waiting,
            count(*) FILTER (WHERE a.reason = 'swap_target_gone')::int AS gone,
            count(*) FILTER (WHERE (a.status = 'enrolled') <> (b.status = 'dropped' AND b.reason = 'swapped')
                               OR (a.status = 'enrolled' AND NOT EXISTS (
                                     SELECT 1 FROM course_events ea JOIN course_events eb ON eb.txid = ea.txid
                                      WHERE ea.course_id = a.course_id AND ea.idempotency_key = a.idempotency_key
                                        AND ea.type IN ('enrolled', 'promoted')
                                        AND eb.course_id = b.course_id AND eb.idempotency_key = b.idempotency_key
                                        AND eb.type = 'dropped')))::int AS broken
       FROM decisions a JOIN decisions b ON b.idempotency_key = a.swap_for
      WHERE a.course_id = $1`,
    [swapCourseId],
  );
  // An outage is never a dead letter: every job waits at the head of its partition instead.
  const [deadLettered] = await query(
    world,
    'SELECT count(*)::int AS n FROM dead_letters WHERE course_id = ANY($1)',
    [[courseId, companionId, swapCourseId]],
  );
  return {
    deadLettered: deadLettered.n,
    accepted: told.accepted.size,
    decided: decidedAccepted,
    lost: told.accepted.size - decidedAccepted,
    doubled:
      counts.keys_twice +
      counts.students_twice +
      (seatsWrong ? 1 : 0) +
      decisionsWithoutRow +
      counts.seats_without_decision +
      counts.places_without_decision,
    queuedWithoutJob: [...told.queuedReplies].filter((key) => !decidedKeys.has(key)).length,
    scheduleViolations: schedules.over_limit + schedules.loads_wrong,
    swapViolations: swaps.broken,
    swapped: swaps.swapped,
    orderViolations: violations.length,
    violationExamples: violations.slice(0, 3).map(describeViolation),
    recoverSeconds: first.at === null ? null : Math.max(0, first.at - healedAt) / 1000,
    detail:
      `seats ${counts.seats_taken}/${counts.capacity}, enrollment rows ${counts.enrollments}, ` +
      `students with two places ${counts.students_twice}, rows disagreeing with decisions ` +
      `${decisionsWithoutRow + counts.seats_without_decision + counts.places_without_decision}; ` +
      `schedules: ${schedules.over_limit} over the credit limit, ${schedules.loads_wrong} load rows wrong, ` +
      `${schedules.refused} refused max_credits; swaps: ${swaps.swapped} carried out, ${swaps.waiting} waiting, ` +
      `${swaps.gone} swap_target_gone, ${swaps.broken} broken`,
  };
}

// ---------------------------------------------------------------- one run

async function runScenario(world, fault, run) {
  const runStartedAt = Date.now();
  await ensureHealthy(world);
  // A run that failed midway left its webhook behind.
  if (world.webhook) await removeWebhook(world, world.webhook);
  // Before the run's courses exist, so every event of theirs is one the webhook must deliver.
  const webhook = (world.webhook = await registerWebhook(world));
  const seed =
    (SEED * 1_000_003 + run * 7919 + createHash('sha256').update(fault.name).digest().readUInt32BE(0)) >>> 0;
  const tag = `c${run}-${randomBytes(3).toString('hex')}`;
  const courseId = await createCourse(world, tag.toUpperCase(), [
    { days: 'MWF', start: '09:00', end: '09:50' },
  ]);
  const companionId = await createCourse(
    world,
    `${tag.toUpperCase()}B`,
    [{ days: 'TR', start: '09:00', end: '09:50' }],
    COMPANION_STUDENTS,
  );
  world.courseId = courseId;
  const swapCourseId = await createCourse(
    world,
    `${tag.toUpperCase()}S`,
    [{ days: 'TR', start: '09:00', end: '09:50' }],
    SWAP_SEATS,
  );
  const offers = await offerCourse(world, tag);
  const draw = await drawCourse(world, tag);
  const sends = stampedeRequests(courseId, companionId, swapCourseId, tag, prng(seed));
  const answers = new Map();
  log(`${fault.name} #${run}: course ${courseId}, ${sends.length} requests (seed ${seed})`);

  let injected;
  let raised;
  const inject = () => {
    injected ??= openOffers(world, offers)
      .then(() => endDrawSoon(world, draw))
      .then(() => fault.inject(world))
      .then(
        (result) => result,
        (error) => ({ error }),
      );
    // The swap course grows while the fault is on: its waiting swaps are carried out by promotions.
    raised ??= patchCourse(world, swapCourseId, { capacity: SWAP_STUDENTS });
  };
  const stampedeStartedAt = Date.now();
  const sent = await stampede(world.services.api.url, sends, answers, (answered) => {
    if (answered >= FAULT_AFTER * sends.length) inject();
  });
  const stampedeSeconds = (Date.now() - stampedeStartedAt) / 1000;
  inject(); // a stampede that never got that far still gets its fault
  const outcome = await injected;
  const notes = [];
  if (!(await raised)) notes.push('the swap course could not be raised');
  if (outcome.error) notes.push(`fault injection failed: ${outcome.error.message}`);
  if (sent.gaveUp + sent.unsent > 0)
    notes.push(`${sent.gaveUp} requests never answered, ${sent.unsent} never sent`);

  const told = summarize(answers);
  const waitFor = new Set([...told.accepted, ...told.queuedReplies]);
  // A failed heal (a process that never became ready) is put right before waiting, or nothing decides.
  if (outcome.error) await ensureHealthy(world).catch((error) => notes.push(error.message));
  const waited = await waitForDecisions(
    world,
    [courseId, companionId, swapCourseId, draw.courseId],
    new Set([...waitFor, ...draw.keys]),
  );
  if (waited !== 'all decided') notes.push(waited);
  if (told.acceptedTwice.size > 0) notes.push(`${told.acceptedTwice.size} keys answered 202 twice`);
  if (told.keptAfter503.size > 0) {
    notes.push(`${told.keptAfter503.size} keys answered 503, then 200 with no 202: a 503 kept the request`);
  }

  if (!(await offersSettled(world, offers))) notes.push('offers past their deadline were not expired');
  const result = {
    ...(await check(world, courseId, companionId, swapCourseId, tag, told, outcome.healedAt)),
    ...(await checkOffers(world, offers)),
    ...(await checkDraw(world, draw)),
    ...(await checkWebhook(world, webhook, [
      courseId,
      companionId,
      swapCourseId,
      offers.courseId,
      draw.courseId,
    ])),
    storedUnconfirmed: told.storedUnconfirmed.size,
    exit: outcome.exit,
    notes,
  };
  notes.push(...result.violationExamples.map((example) => `out of order: ${example}`));
  notes.push(...result.webhookProblems.map((problem) => `webhook: ${problem}`));
  await removeWebhook(world, webhook);
  const statuses = Object.entries(told.statuses)
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');
  log(
    `${fault.name} #${run}: accepted ${result.accepted}, decided ${result.decided}, lost ${result.lost}, ` +
      `doubled ${result.doubled}, queued w/o job ${result.queuedWithoutJob}, order ${result.orderViolations}, ` +
      `dead letters ${result.deadLettered}, 503 stored-unconfirmed ${result.storedUnconfirmed}, ` +
      `recover ${result.recoverSeconds?.toFixed(1) ?? '–'} s${outcome.exit ? `, ${formatExit(outcome.exit)}` : ''}; ` +
      `answers ${statuses} in ${stampedeSeconds.toFixed(1)} s (${Math.round(sends.length / stampedeSeconds)} req/s); ` +
      `${result.detail}; ${result.offersDetail}; ${result.drawDetail}; ${result.webhookDetail}; ` +
      `webhook_missing=${result.webhookMissing} webhook_order_violations=${result.webhookOrderViolations} ` +
      `webhook_bad_signatures=${result.webhookBadSignatures}; ${((Date.now() - runStartedAt) / 1000).toFixed(0)} s` +
      notes.map((note) => `\n    note: ${note}`).join(''),
  );
  const failed =
    result.lost +
      result.doubled +
      result.queuedWithoutJob +
      result.orderViolations +
      result.deadLettered +
      result.scheduleViolations +
      result.swapViolations +
      result.offerViolations +
      result.drawViolations +
      result.webhookMissing +
      result.webhookOrderViolations +
      result.webhookBadSignatures >
    0;
  if (failed || notes.length > 0) printNotable(runStartedAt);
  return result;
}

/** The service's warnings and errors since the run began, grouped, most frequent first. */
function printNotable(since) {
  const groups = new Map();
  for (const { at, name, text } of notable) {
    if (at < since) continue;
    const key = `${name.replace(/-\d+$/, '')}: ${text.replace(/\d+/g, '#')}`.slice(0, 200);
    const group = groups.get(key) ?? { count: 0, example: `${name}: ${text}` };
    group.count += 1;
    groups.set(key, group);
  }
  const top = [...groups.values()].sort((a, b) => b.count - a.count).slice(0, 8);
  for (const { count, example } of top) console.error(`    log ×${count} ${example.slice(0, 240)}`);
}

// ---------------------------------------------------------------- report

function formatExit(exit) {
  if (exit.hung) return `hung, killed after ${exit.seconds} s`;
  if (exit.before) return `had exited ${exit.code ?? exit.signal} before SIGTERM`;
  return `exit ${exit.code ?? exit.signal} in ${exit.seconds.toFixed(1)} s`;
}

function exitColumn(results) {
  const exits = results.map((r) => r.exit).filter(Boolean);
  if (exits.length === 0) return '–';
  if (exits.length === 1) return formatExit(exits[0]);
  const kinds = {};
  for (const exit of exits) {
    const kind = exit.hung
      ? 'hung'
      : `${exit.before ? 'exited before, ' : ''}exit ${exit.code ?? exit.signal}`;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  const max = Math.max(...exits.map((exit) => (exit.before ? 0 : exit.seconds)));
  return `${Object.entries(kinds)
    .map(([kind, n]) => `${kind} ×${n}`)
    .join(', ')}; max ${max.toFixed(1)} s`;
}

function report(faults, results, failedRuns) {
  const sum = (list, pick) => list.reduce((total, r) => total + pick(r), 0);
  const lines = [
    `Chaos${CLUSTER ? ` on a Redis Cluster (3 masters, 3 replicas, REDIS_WAIT_REPLICAS=${REDIS_WAIT})` : ''}: ${REPEAT} run(s) of each fault; each a fresh course with ${CAPACITY} seats and ${STUDENTS + DUPLICATES + SECOND_KEYS} POST /enroll ` +
      `(${STUDENTS} keys, ${DUPLICATES} exact repeats, ${SECOND_KEYS} second keys), plus ${COMPANION_STUDENTS} of its students asking for a ${CREDITS}-credit companion course on another partition with a ${CREDITS}-credit limit, ` +
      `${SWAP_STUDENTS} of whom then swap the companion for a third course (${SWAP_SEATS} seats, raised to ${SWAP_STUDENTS} during the fault), ` +
      `an offer-mode course (${OFFER_SEATS} seats, ${OFFER_WAITING} waiting) whose holders drop just before the fault, their offers' deadlines ${OFFER_DEADLINE_MS / 1000} s later, ` +
      `and a course with an opening draw (${DRAW_SEATS} seats, ${DRAW_STUDENTS + DRAW_SECOND_KEYS} entries of ${DRAW_STUDENTS} students) whose period ends ${DRAW_END_MS / 1000} s into the fault, ` +
      `every event of the five courses delivered to a webhook whose receiver answers every ${WEBHOOK_FAIL_EVERY}th call 500 and every ${WEBHOOK_SLOW_EVERY}th after ${WEBHOOK_SLOW_MS / 1000} s (WEBHOOK_RETRY_MAX_MS=${WEBHOOK_RETRY_MAX_MS}), ` +
      `${CONCURRENCY} at a time, the fault after ${FAULT_AFTER * 100}% were answered.`,
    '',
    '| fault | runs | accepted | decided | lost | doubled | queued w/o job | order violations | schedule violations | swaps (carried out / broken) | offers (ended once / violations) | draws (entries decided / violations) | webhook events (redelivered / missing / order / bad signatures) | recover (s, max) | exit on SIGTERM | 503 "stored, unconfirmed" |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const fault of faults) {
    const list = results.get(fault.name);
    const incomplete = failedRuns.get(fault.name) ?? 0;
    const recovered = list.map((r) => r.recoverSeconds).filter((s) => s !== null);
    lines.push(
      `| ${fault.name} | ${list.length}${incomplete ? ` (+${incomplete} incomplete)` : ''} | ${sum(list, (r) => r.accepted)} | ` +
        `${sum(list, (r) => r.decided)} | ${sum(list, (r) => r.lost)} | ${sum(list, (r) => r.doubled)} | ` +
        `${sum(list, (r) => r.queuedWithoutJob)} | ${sum(list, (r) => r.orderViolations)} | ` +
        `${sum(list, (r) => r.scheduleViolations)} | ` +
        `${sum(list, (r) => r.swapped)} / ${sum(list, (r) => r.swapViolations)} | ` +
        `${sum(list, (r) => r.offersEnded)} / ${sum(list, (r) => r.offerViolations)} | ` +
        `${sum(list, (r) => r.drawEntries)} / ${sum(list, (r) => r.drawViolations)} | ` +
        `${sum(list, (r) => r.webhookEvents)} (${sum(list, (r) => r.webhookRedelivered)} / ` +
        `${sum(list, (r) => r.webhookMissing)} / ${sum(list, (r) => r.webhookOrderViolations)} / ` +
        `${sum(list, (r) => r.webhookBadSignatures)}) | ` +
        `${recovered.length ? Math.max(...recovered).toFixed(1) : '–'} | ${exitColumn(list)} | ` +
        `${sum(list, (r) => r.storedUnconfirmed)} |`,
    );
  }
  const all = [...results.values()].flat();
  const totals = {
    lost: sum(all, (r) => r.lost),
    doubled: sum(all, (r) => r.doubled),
    orderViolations: sum(all, (r) => r.orderViolations),
    queuedWithoutJob: sum(all, (r) => r.queuedWithoutJob),
    deadLettered: sum(all, (r) => r.deadLettered),
    scheduleViolations: sum(all, (r) => r.scheduleViolations),
    swapViolations: sum(all, (r) => r.swapViolations),
    offerViolations: sum(all, (r) => r.offerViolations),
    drawViolations: sum(all, (r) => r.drawViolations),
    webhookMissing: sum(all, (r) => r.webhookMissing),
    webhookOrderViolations: sum(all, (r) => r.webhookOrderViolations),
    webhookBadSignatures: sum(all, (r) => r.webhookBadSignatures),
  };
  lines.push(
    '',
    `TOTAL lost=${totals.lost} doubled=${totals.doubled} order_violations=${totals.orderViolations} ` +
      `queued_without_job=${totals.queuedWithoutJob} dead_lettered=${totals.deadLettered} ` +
      `schedule_violations=${totals.scheduleViolations} swap_violations=${totals.swapViolations} ` +
      `offer_violations=${totals.offerViolations} draw_violations=${totals.drawViolations} ` +
      `webhook_missing=${totals.webhookMissing} webhook_order_violations=${totals.webhookOrderViolations} ` +
      `webhook_bad_signatures=${totals.webhookBadSignatures} ` +
      `webhook_events=${sum(all, (r) => r.webhookEvents)} webhook_redelivered=${sum(all, (r) => r.webhookRedelivered)}`,
  );
  console.log(lines.join('\n'));
  return Object.values(totals).every((n) => n === 0);
}

// ---------------------------------------------------------------- main

/** What the API's /ready says of the Redis topology, e.g. `/ready: redis_mode=cluster, 3 master ok, 3 replica ok`. */
async function readinessLine(world) {
  // The client learns the replicas at its next refresh of the slots (every 2 s).
  let ready;
  const deadline = Date.now() + 10_000;
  do {
    ready = await (await fetch(`${world.services.api.url}/ready`)).json();
    if (ready.redis_nodes.length === world.cluster.length) break;
    await sleep(500);
  } while (Date.now() < deadline);
  const counts = {};
  for (const node of ready.redis_nodes)
    counts[`${node.role} ${node.status}`] = (counts[`${node.role} ${node.status}`] ?? 0) + 1;
  const nodes = Object.entries(counts)
    .sort()
    .map(([kind, n]) => `${n} ${kind}`)
    .join(', ');
  return `/ready: ${ready.status}, redis_mode=${ready.redis_mode}, ${nodes}`;
}

function preflight() {
  if (!(Number.isInteger(REPEAT) && REPEAT >= 1)) throw new Error('CHAOS_REPEAT must be a positive integer');
  if (!existsSync('dist/main.js'))
    throw new Error('dist/main.js is missing: run `npm run build` (npm run chaos does)');
  if (!existsSync(`${PG_BIN}/initdb`)) throw new Error(`no PostgreSQL at ${PG_BIN} (set CHAOS_PG_BIN)`);
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('redis-server is not on PATH');
  }
}

async function main() {
  preflight();
  const all = CLUSTER
    ? [CLUSTER_FAULTS[0], FAULTS.find((fault) => fault.name === 'worker kill -9'), ...CLUSTER_FAULTS.slice(1)]
    : FAULTS;
  const faults = all.filter(
    (fault) => SELECTED.length === 0 || SELECTED.some((part) => fault.name.includes(part)),
  );
  if (faults.length === 0) {
    throw new Error(`CHAOS_FAULTS matches no fault; the faults are: ${all.map((f) => f.name).join('; ')}`);
  }
  const world = await startWorld();
  if (CLUSTER) console.log(await readinessLine(world));
  const results = new Map(faults.map((fault) => [fault.name, []]));
  const failedRuns = new Map();
  let complete = true;
  try {
    for (let run = 1; run <= REPEAT; run += 1) {
      for (const fault of faults) {
        if (Date.now() - startedAt > BUDGET_MS) {
          log(`${fault.name} #${run}: skipped, past CHAOS_BUDGET_S`);
          failedRuns.set(fault.name, (failedRuns.get(fault.name) ?? 0) + 1);
          complete = false;
          continue;
        }
        try {
          results.get(fault.name).push(await runScenario(world, fault, run));
        } catch (error) {
          // The run proves nothing; the next one starts by putting servers and processes right.
          log(`${fault.name} #${run}: run failed: ${error.message}`);
          printNotable(Date.now() - 60_000);
          failedRuns.set(fault.name, (failedRuns.get(fault.name) ?? 0) + 1);
          complete = false;
        }
      }
    }
  } finally {
    // A graceful stop if they manage it in time; cleanup() kills whatever is left.
    for (const service of Object.values(world.services)) service.child.kill('SIGTERM');
    await within(Promise.all(Object.values(world.services).map((service) => service.exited)), EXIT_MS);
    stopReceiver(world.receiver);
  }
  const clean = report(faults, results, failedRuns);
  if (!complete) console.error('[chaos] some runs failed or were skipped: the table does not cover them');
  return clean && complete;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (error) => {
    console.error(`chaos failed: ${error.stack ?? error}`);
    process.exit(1);
  },
);
