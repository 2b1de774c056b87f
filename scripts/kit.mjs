// The kit shared by the tests, the demo, the benchmark and the fault runs.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { WebSocket } from 'ws';

/**
 * The first port the kernel hands to outgoing connections. A port from listen(0) lies in that range, so in
 * the moment between finding it free and a child process binding it, any of the thousands of client sockets
 * a test run opens may take it (EADDRINUSE, a failed start). Ports below the range are never handed out.
 */
function ephemeralLow() {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

function canListen(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port free on 127.0.0.1 now, below the ephemeral range, picked at random so that concurrent test files
 * and runs rarely try the same one.
 */
export async function freePort() {
  const high = Math.min(ephemeralLow(), 65536);
  const low = Math.max(1024, Math.min(10_000, high - 5000));
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${low} and ${high}`);
}

/**
 * Where tests, the demo and the bench may create and drop databases: one variable for all three. The default
 * logs in as docker-compose.yml's postgres service asks (postgres:postgres); a server that trusts local
 * connections ignores the password.
 */
export const ADMIN_DATABASE_URL =
  process.env.ADMIN_DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres';

/** The admin URL pointed at another database of the same server. */
export function databaseUrl(name) {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs work on one connection, closed (and awaited) whatever happens. */
export async function withClient(url, work) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The Redis the tests, the demo and the bench use (REDIS_HOST, REDIS_PORT). */
export const REDIS = {
  host: process.env.REDIS_HOST ?? '127.0.0.1',
  port: Number(process.env.REDIS_PORT ?? 6379),
};

/**
 * redis-server flags of a Redis Cluster node: its cluster bus port (given, because the default, the port plus
 * 10,000, may fall in the kernel's ephemeral range and be taken), how long a master may be silent before a
 * replica takes over (15 s by default), and the two settings the fault runs and docs/scaling.md recommend: one
 * master away does not stop the others' slots, and a replica may always take over.
 */
export function clusterNodeArgs(nodeTimeoutMs, busPort) {
  return [
    ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPort)],
    ...['--cluster-node-timeout', String(nodeTimeoutMs)],
    ...['--cluster-require-full-coverage', 'no', '--cluster-replica-validity-factor', '0'],
  ];
}

const run = promisify(execFile);

/**
 * Makes a cluster of nodes started with clusterNodeArgs, once each answers (`redis-cli --cluster create`, one
 * replica per master), then waits until every node says the cluster is ok and every master has a linked replica.
 */
export async function createRedisCluster(ports, timeoutMs = 60_000) {
  const cli = (port, ...args) =>
    run('redis-cli', ['-p', String(port), ...args], { timeout: 10_000 }).then(({ stdout }) => stdout);
  const deadline = Date.now() + timeoutMs;
  // Nodes just spawned may not listen yet.
  for (const port of ports) {
    while ((await cli(port, 'PING').catch(() => '')).trim() !== 'PONG') {
      if (Date.now() > deadline) throw new Error(`redis-server on :${port} does not answer`);
      await sleep(100);
    }
  }
  await run(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ],
    { timeout: 60_000 },
  );
  for (;;) {
    const views = await Promise.all(
      ports.map(async (port) => [await cli(port, 'CLUSTER', 'INFO'), await cli(port, 'CLUSTER', 'NODES')]),
    ).catch(() => []);
    const settled =
      views.length === ports.length &&
      views.every(([info, nodes]) => {
        const lines = nodes
          .trim()
          .split('\n')
          .map((line) => line.split(' '));
        const masters = lines.filter(([, , flags, , , , , , slots]) => flags.includes('master') && slots);
        return (
          /cluster_state:ok/.test(info) &&
          masters.every(([id]) => lines.some((node) => node[3] === id && node[7] === 'connected'))
        );
      });
    if (settled) return;
    if (Date.now() > deadline) throw new Error(`the Redis Cluster on ${ports.join(', ')} did not settle`);
    await sleep(200);
  }
}

/** Deletes every key matching the pattern (SCAN, never KEYS). */
export async function deleteRedisKeys(pattern) {
  const redis = new Redis(REDIS);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------- live events (/ws)

/** Close codes after which a client comes back: going away (a restart), lost, service restart, slow consumer. */
const RESUMABLE_CLOSES = new Set([1001, 1006, 1012, 1013]);

/** The /ws address of a service's HTTP address (a ws:// one is kept). */
export function liveUrl(url) {
  const address = new URL(url);
  if (address.protocol === 'http:' || address.protocol === 'https:') {
    address.protocol = address.protocol === 'https:' ? 'wss:' : 'ws:';
    address.pathname = '/ws';
  }
  return address.toString();
}

/** Event types that are a request's decision (its row in the record); the others are later changes. */
export const DECISION_EVENT_TYPES = new Set(['enrolled', 'waitlisted', 'rejected', 'cancelled']);

/**
 * An event as a line to compare with the record: every field but the cursor, which depends on who reads
 * (GET /courses/:id/events numbers it per course, /ws per connection).
 */
export function comparableEvent(e) {
  return [
    e.type,
    e.course_id,
    e.student_id,
    e.idempotency_key,
    e.status,
    e.waitlist_position,
    e.reason,
    e.capacity,
    e.at,
    e.txid,
  ].join(' ');
}

/** A selector as the server echoes it in its answers: `student_id s-0042`, `course_id 7`. */
function selectorName(message) {
  for (const field of ['student_id', 'idempotency_key', 'course_id']) {
    if (message[field] !== undefined) return `${field} ${message[field]}`;
  }
  return undefined;
}

/**
 * One /ws connection holding a few subscriptions (`{ student_id }`, `{ idempotency_key }` or
 * `{ course_id, token }`), keeping each event with its receipt time (`receivedAt`, Date.now(): the clock
 * the event's `at` was written by, when client and service share a machine). Emits `event`
 * ({ event, receivedAt }), `subscribed` and `refused` (the server's answers, as sent), `closed`
 * ({ code, reason, retryInMs }) before coming back, and `gave-up` (an Error) when it does not.
 *
 * With `reconnect`, a connection the server closes as going away (1001) or too slow (1013), or that is
 * lost (1006), is opened again after a growing pause, and each subscription resumes after the last cursor
 * that carried it: a rolling restart costs a pause, never an event, and repeats none.
 */
export class LiveClient extends EventEmitter {
  /** Every event received, in order (unless `keep` is false). */
  events = [];
  /** Resolves once the server has answered each subscription (subscribed or refused). */
  ready;
  /** The last cursor the server sent: `after` for a later client that wants what this one has not seen. */
  cursor;
  #url;
  #reconnect;
  #keep;
  #headers;
  #subscriptions;
  #socket;
  #stopped = false;
  #attempt = 0;
  #allAnswered;

  constructor(url, selectors, { after, reconnect = false, keep = true, headers } = {}) {
    super();
    this.#url = liveUrl(url);
    this.#reconnect = reconnect;
    this.#keep = keep;
    this.#headers = headers;
    this.#subscriptions = selectors.map((selector) => ({
      selector,
      name: selectorName(selector),
      // The last cursor that carried this subscription's section (the caller's `after` until one has).
      after,
      confirmed: false,
      answered: false,
    }));
    this.ready = new Promise((resolve, reject) => {
      this.#allAnswered = resolve;
      this.once('gave-up', reject);
    });
    // Who only listens for events must not meet an unhandled rejection: `gave-up` tells them.
    this.ready.catch(() => undefined);
    this.#connect();
  }

  /** Closes for good (1000); resolves once the socket is closed. */
  async close() {
    this.#stopped = true;
    const socket = this.#socket;
    if (socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => socket.once('close', resolve));
    if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
    else socket.close(1000, 'done');
    await closed;
  }

  #connect() {
    const socket = new WebSocket(this.#url, { headers: this.#headers });
    this.#socket = socket;
    let failure;
    for (const sub of this.#subscriptions) sub.confirmed = false;
    socket.on('open', () => this.#subscriptions.forEach((sub) => this.#subscribe(socket, sub)));
    socket.on('message', (data) => this.#received(socket, JSON.parse(data.toString()), Date.now()));
    // A refused connection or upgrade: the close that follows (1006) carries its message.
    socket.on('error', (error) => (failure = error.message));
    socket.on('close', (code, reason) => this.#closed(code, reason.toString() || failure));
  }

  #subscribe(socket, sub) {
    if (socket !== this.#socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(
      JSON.stringify({ type: 'subscribe', ...sub.selector, ...(sub.after ? { after: sub.after } : {}) }),
    );
  }

  #received(socket, message, receivedAt) {
    if (message.type === 'event') {
      this.cursor = message.event.cursor;
      for (const sub of this.#subscriptions) if (sub.confirmed) sub.after = this.cursor;
      const received = { event: message.event, receivedAt };
      if (this.#keep) this.events.push(received);
      this.emit('event', received);
      return;
    }
    const sub = this.#subscriptions.find((each) => each.name === selectorName(message));
    if (message.type === 'subscribed' && sub) {
      sub.confirmed = true;
      this.#attempt = 0;
      this.cursor = message.cursor;
      for (const each of this.#subscriptions) if (each.confirmed) each.after = this.cursor;
    }
    if (message.type === 'error' && sub && !message.field && /again/i.test(message.message)) {
      // The server cannot read the record for a moment and says to subscribe again shortly.
      setTimeout(() => this.#subscribe(socket, sub), 1000).unref();
    } else if (sub) {
      sub.answered = true;
    }
    this.emit(message.type === 'error' ? 'refused' : message.type, message);
    if (this.#subscriptions.every((each) => each.answered)) this.#allAnswered();
  }

  #closed(code, reason) {
    if (this.#stopped) return;
    // An upgrade answered 4xx (a wrong token, a wrong path) is refused again: no outage to wait out.
    const refused = /Unexpected server response: 4/.test(reason);
    if (!this.#reconnect || !RESUMABLE_CLOSES.has(code) || refused) {
      this.#stopped = true;
      this.emit('gave-up', new Error(`${this.#url} closed: ${code}${reason ? ` ${reason}` : ''}`));
      return;
    }
    // 0.25 s, 0.5 s, 1 s … up to 5 s, jittered so a restarted fleet is not asked to take everyone at once.
    const retryInMs = Math.round(Math.min(5000, 250 * 2 ** this.#attempt) * (0.5 + Math.random() / 2));
    this.#attempt += 1;
    this.emit('closed', { code, reason, retryInMs });
    setTimeout(() => this.#stopped || this.#connect(), retryInMs);
  }
}
