// The kit shared by the tests, the demo, the benchmark and the fault runs.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';

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

/** Where tests, the demo and the bench may create and drop databases: one variable for all three. */
export const ADMIN_DATABASE_URL =
  process.env.ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

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
