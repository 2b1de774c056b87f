import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { HostPort, RedisConfig } from '../config/app-config.js';

/**
 * The client of whatever topology REDIS_MODE names: a Redis (one server, or the master Sentinel points at)
 * or a Cluster. Both speak the same commands; every key one partition touches carries its hash tag, so each
 * script and transaction stays in one slot (see redis-keys.ts).
 */
export type RedisClient = Redis | Cluster;

/** The injection token of the process's shared client: `@Inject(REDIS_CLIENT) redis: RedisClient`. */
export const REDIS_CLIENT = Symbol('RedisClient');

/** Reconnect at most a second after Redis comes back, whoever the client is. */
const reconnectDelayMs = (attempt: number): number => Math.min(attempt * 200, 1000);

const listed = (nodes: HostPort[]): string => nodes.map(({ host, port }) => `${host}:${port}`).join(',');

/** Where Redis is, for log lines and probes (never a credential). */
export function redisAddress(redis: RedisConfig): string {
  if (redis.mode === 'sentinel')
    return `sentinel master "${redis.sentinelName}" via ${listed(redis.sentinels)}`;
  if (redis.mode === 'cluster') return `cluster via ${listed(redis.nodes)}`;
  return `${redis.host}:${redis.port}`;
}

/**
 * `commands`: the process's shared connection for non-blocking commands (producer queues, claims,
 * readiness). It fails fast instead of buffering while Redis is away, so the API answers 503 at once.
 * `blocking`: a BullMQ worker's or event listener's own connection, whose blocking commands wait for ever,
 * so no timeouts and unlimited retries (BullMQ requires maxRetriesPerRequest null there).
 */
export function createRedisClient(redis: RedisConfig, use: 'commands' | 'blocking'): RedisClient {
  const options: RedisOptions =
    use === 'commands'
      ? { maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000 }
      : { maxRetriesPerRequest: null };
  const offline = { enableOfflineQueue: use === 'blocking' };
  if (redis.mode === 'cluster') {
    return new Cluster(redis.nodes, {
      ...offline,
      redisOptions: options,
      clusterRetryStrategy: reconnectDelayMs,
      // A failover moves slots: ask again soon rather than fail the command.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: 2000,
      // Notice a promoted replica even if no command is redirected meanwhile.
      slotsRefreshInterval: 2000,
    });
  }
  const where: RedisOptions =
    redis.mode === 'sentinel'
      ? { sentinels: redis.sentinels, name: redis.sentinelName, sentinelRetryStrategy: reconnectDelayMs }
      : { host: redis.host, port: redis.port };
  return new Redis({ ...where, ...options, ...offline, retryStrategy: reconnectDelayMs });
}

/**
 * The master that serves a key, to send it a command that names no key (WAIT): a Cluster routes those to
 * any node, but WAIT counts the replicas of the connection's own writes.
 */
export function masterOf(client: RedisClient, key: string): Redis {
  if (!(client instanceof Cluster)) return client;
  const address = client.slots[calculateSlot(key)]?.[0];
  const master = client
    .nodes('master')
    .find((node) => `${node.options.host}:${node.options.port}` === address);
  if (!master) throw new Error(`no master known for the slot of ${key}`);
  return master;
}
