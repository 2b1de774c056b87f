import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../../scripts/kit.mjs';
import { eventually } from './test-app.js';

export interface PrivateRedis {
  port: number;
  process: ChildProcess;
}

/**
 * A redis-server of this test file's own on a free port (with a config file and --sentinel, a sentinel),
 * so a test may flush, fail over or kill it without touching the shared one.
 */
export async function startPrivateRedis(args: string[] = []): Promise<PrivateRedis> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [...args, '--port', String(port), '--bind', '127.0.0.1', '--save', ''],
    {
      stdio: 'ignore',
    },
  );
  const client = new Redis({ port, lazyConnect: true, retryStrategy: () => 100, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  await eventually(() => client.ping().catch(() => undefined), 10_000, `redis-server on :${port}`);
  client.disconnect();
  return { port, process: child };
}
