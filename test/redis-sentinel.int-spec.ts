import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../scripts/kit.mjs';
import { startPrivateRedis } from './support/private-redis.js';
import { type ChildService, startChildService } from './support/child-service.js';
import {
  createWorld,
  enrollAll,
  eventually,
  http,
  newCourse,
  newRequest,
  type TestWorld,
} from './support/test-app.js';

const MASTER_NAME = 'courseflow';

/**
 * REDIS_MODE=sentinel against a real Sentinel: a master, its replica and one sentinel watching them, all
 * private to this file. The service finds the master through the sentinel, reports both on /ready, and
 * follows the master when the sentinel fails it over.
 */
describe('Redis through Sentinel (REDIS_MODE=sentinel)', () => {
  let world: TestWorld;
  let service: ChildService;
  let dir: string;
  const servers: ChildProcess[] = [];
  let master: number;
  let replica: number;
  let sentinel: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'courseflow-sentinel-'));
    const started = await startPrivateRedis(['--dir', dir, '--dbfilename', 'master.rdb']);
    master = started.port;
    servers.push(started.process);
    const follower = await startPrivateRedis(['--replicaof', '127.0.0.1', String(master), '--dir', dir]);
    replica = follower.port;
    servers.push(follower.process);
    const sentinelPort = await freePort();
    const config = join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${sentinelPort}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master} 1`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        '',
      ].join('\n'),
    );
    const watcher = spawn('redis-server', [config, '--sentinel', '--bind', '127.0.0.1'], { stdio: 'ignore' });
    servers.push(watcher);
    sentinel = sentinelPort;

    world = await createWorld({
      REDIS_MODE: 'sentinel',
      REDIS_SENTINELS: `127.0.0.1:${sentinel}`,
      REDIS_SENTINEL_NAME: MASTER_NAME,
      // The shared Redis is not where this world's keys live.
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: '1',
    });
    service = await startChildService({ ...world.env, ROLE: 'all' });
  }, 60_000);

  afterAll(async () => {
    service?.process.kill('SIGKILL');
    for (const server of servers) server.kill('SIGKILL');
    await world?.database.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds the master through the sentinel and reports both on /ready', async () => {
    const ready = await http(service.baseUrl, 'GET', '/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', redis: 'ok', redis_mode: 'sentinel' });
    expect(ready.body.redis_nodes).toEqual([
      { address: `127.0.0.1:${master}`, role: 'master', status: 'ok' },
      { address: `127.0.0.1:${sentinel}`, role: 'sentinel', status: 'ok' },
    ]);
  });

  it('decides requests on the master, and goes on deciding after the sentinel fails it over', async () => {
    const courseId = await newCourse(service.baseUrl, 5);
    await enrollAll(service.baseUrl, [newRequest(courseId), newRequest(courseId)]);
    const keys = new Redis({ port: master });
    expect((await keys.keys(`${world.queuePrefix}:*`)).length).toBeGreaterThan(0);
    keys.disconnect();

    const watcher = new Redis({ port: sentinel });
    await watcher.call('SENTINEL', 'FAILOVER', MASTER_NAME);
    await eventually(
      async () => {
        const [, port] = (await watcher.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as string[];
        return Number(port) === replica ? true : undefined;
      },
      20_000,
      'the sentinel to promote the replica',
    );
    watcher.disconnect();

    // Requests sent from now on are answered by the new master, once the client has followed it.
    const after = [newRequest(courseId), newRequest(courseId), newRequest(courseId)];
    await eventually(
      async () => {
        const ready = await http(service.baseUrl, 'GET', '/ready');
        return ready.body.redis_nodes?.[0]?.address === `127.0.0.1:${replica}` && ready.status === 200
          ? true
          : undefined;
      },
      20_000,
      '/ready to name the promoted master',
    );
    await eventually(
      async () => {
        const answer = await http(service.baseUrl, 'POST', '/enroll', after[0]);
        return answer.status === 202 ? true : undefined;
      },
      20_000,
      'the API to accept on the new master',
    );
    await enrollAll(service.baseUrl, after.slice(1));
    await eventually(
      async () => {
        const now = await http(service.baseUrl, 'GET', `/enrollments/${after[0].idempotency_key}`);
        return now.body.status === 'enrolled' ? true : undefined;
      },
      20_000,
      'the first request after the failover to be decided',
    );
    const course = await http(service.baseUrl, 'GET', `/courses/${courseId}`);
    expect(course.body.seats_taken).toBe(5);
  }, 90_000);
});
