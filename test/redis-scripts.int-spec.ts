import { Redis } from 'ioredis';
import { REDIS_CLIENT } from '../src/redis/redis-client.js';
import { type PrivateRedis, startPrivateRedis } from './support/private-redis.js';
import {
  createWorld,
  http,
  newCourse,
  newRequest,
  startApp,
  type TestApp,
  type TestWorld,
  waitForDecision,
} from './support/test-app.js';

/**
 * A Redis Cluster replica promoted to master has none of the old master's Lua scripts, while the client's
 * connection to it counts them as sent: every MULTI carrying one answers NOSCRIPT. SCRIPT FLUSH on a Redis
 * of this file's own makes the same state on one server.
 */
describe('a Redis that lost its scripts under a live connection', () => {
  let world: TestWorld;
  let app: TestApp;
  let redis: PrivateRedis;
  let client: Redis;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    client = new Redis({ port: redis.port });
    world = await createWorld({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port) });
    app = await startApp(world);
  });

  afterAll(async () => {
    await app?.close();
    client?.disconnect();
    redis?.process.kill('SIGKILL');
    await world?.database.drop();
  });

  /** A course whose partition has taken a request already, so the connection counts its scripts as sent. */
  async function warmCourse(): Promise<number> {
    const courseId = await newCourse(app.baseUrl, 5);
    const warm = newRequest(courseId);
    expect((await http(app.baseUrl, 'POST', '/enroll', warm)).status).toBe(202);
    await waitForDecision(app.baseUrl, warm.idempotency_key);
    return courseId;
  }

  /**
   * A new request is refused with 503 and leaves no key behind (neither job nor claim); its retry is decided.
   * The student's rate-limit counter is left out: it counts calls made, refused ones too.
   */
  async function refusedWithNothingWrittenThenAccepted(courseId: number): Promise<void> {
    const keys = async () => (await client.keys('*')).filter((key) => !key.includes(':rate:')).sort();
    const keysBefore = await keys();
    const request = newRequest(courseId);
    expect((await http(app.baseUrl, 'POST', '/enroll', request)).status).toBe(503);
    expect(await keys()).toEqual(keysBefore);
    expect((await http(app.baseUrl, 'POST', '/enroll', request)).status).toBe(202);
    expect((await waitForDecision(app.baseUrl, request.idempotency_key)).body.status).toBe('enrolled');
  }

  it('answers one batch 503 with nothing written, loads the scripts again, and accepts the retry', async () => {
    const courseId = await warmCourse();
    await client.script('FLUSH');
    await refusedWithNothingWrittenThenAccepted(courseId);
  });

  it('never leaves a claim without its job: with the claim script loaded and the job script lost, nothing is claimed', async () => {
    const courseId = await warmCourse();
    // The service's client keeps the scripts it defined; put back only the claim script.
    const scripts = (app.app.get(REDIS_CLIENT) as unknown as { scriptsSet: Record<string, { lua: string }> })
      .scriptsSet;
    await client.script('FLUSH');
    await client.script('LOAD', scripts.claimRequests.lua);
    await refusedWithNothingWrittenThenAccepted(courseId);
  });
});
