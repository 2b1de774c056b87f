import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import type { HostPort, RedisConfig } from '../config/app-config.js';
import type { RedisClient } from './redis-client.js';

/** One Redis server as /ready reports it. */
export interface RedisNodeReport {
  address: string;
  role: 'master' | 'replica' | 'sentinel';
  status: 'ok' | 'down';
}

/** A node that does not answer within this is down for the probe. */
const NODE_TIMEOUT_MS = 1000;

const answers = async (ask: () => Promise<unknown>): Promise<boolean> =>
  Promise.race([
    ask().then(
      () => true,
      () => false,
    ),
    sleep(NODE_TIMEOUT_MS, false),
  ]);

const addressOf = ({ host, port }: HostPort): string => `${host}:${port}`;

/**
 * Every server of the configured topology and whether it answers: the one server; Sentinel's master and each
 * sentinel (asked, on a short-lived connection, where the master is); or every node the Cluster client knows,
 * masters and replicas.
 */
export async function probeRedisNodes(client: RedisClient, redis: RedisConfig): Promise<RedisNodeReport[]> {
  if (client instanceof Cluster) {
    const masters = new Set(client.nodes('master'));
    return Promise.all(
      client.nodes('all').map(async (node) => ({
        address: addressOf(node.options as HostPort),
        role: masters.has(node) ? ('master' as const) : ('replica' as const),
        status: (await answers(() => node.ping())) ? ('ok' as const) : ('down' as const),
      })),
    );
  }
  const master = answers(() => client.ping());
  if (redis.mode !== 'sentinel') {
    return [{ address: addressOf(redis), role: 'master', status: (await master) ? 'ok' : 'down' }];
  }
  const sentinels = await Promise.all(redis.sentinels.map((sentinel) => askSentinel(sentinel, redis)));
  const masterAddress = sentinels.find((sentinel) => sentinel.master)?.master ?? 'unknown';
  return [
    { address: masterAddress, role: 'master', status: (await master) ? 'ok' : 'down' },
    ...sentinels.map(({ address, status }) => ({ address, role: 'sentinel' as const, status })),
  ];
}

async function askSentinel(
  sentinel: HostPort,
  redis: RedisConfig,
): Promise<{ address: string; status: 'ok' | 'down'; master?: string }> {
  const connection = new Redis({
    ...sentinel,
    lazyConnect: true,
    connectTimeout: NODE_TIMEOUT_MS,
    commandTimeout: NODE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: true,
    retryStrategy: () => null,
  });
  connection.on('error', () => undefined);
  let master: string | undefined;
  const ok = await answers(async () => {
    await connection.connect();
    const reply = (await connection.call('SENTINEL', 'get-master-addr-by-name', redis.sentinelName)) as
      [string, string] | null;
    if (reply) master = `${reply[0]}:${reply[1]}`;
  });
  connection.disconnect();
  return { address: addressOf(sentinel), status: ok ? 'ok' : 'down', master };
}

/** Ready when every master answers: a master away leaves its partitions unable to take requests. */
export const mastersAnswer = (nodes: RedisNodeReport[]): boolean =>
  nodes.some((node) => node.role === 'master') &&
  nodes.every((node) => node.role !== 'master' || node.status === 'ok');
