import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { AllocationProcessor } from '../src/allocation/allocation.processor.js';
import { AllocationService } from '../src/allocation/allocation.service.js';
import { readPartitionJobs, removeWaitingJobs } from '../src/allocation/waiting-jobs.js';
import { claimKey, jobsWithDuplicatesKey } from '../src/redis/redis-keys.js';
import {
  type AllocationJobData,
  bullPriorityOf,
  partitionOf,
  partitionQueueName,
} from '../src/queue/allocation-queue.contract.js';
import { outcomesVersusReference, sendInOrder } from './support/arbitration.js';
import { connect } from './support/db-client.js';
import {
  asAdmin,
  eventually,
  http,
  newCourse,
  partitionQueueOf,
  startApp,
  type TestApp,
  useWorld,
  waitForDecision,
} from './support/test-app.js';

/**
 * Batches formed on the worker side: a worker decides its partition's active job together with the jobs
 * waiting behind it, in the order BullMQ would hand them out, then removes those jobs.
 */
describe('worker-side batches', () => {
  const ctx = useWorld({ appEnv: { ROLE: 'api' } });
  let redis: Redis;
  let started: TestApp[] = [];

  beforeAll(async () => {
    redis = new Redis({ host: ctx.app.config.redis.host, port: ctx.app.config.redis.port });
  });
  afterEach(async () => {
    await Promise.all(started.map((app) => app.close()));
    started = [];
  });
  afterAll(async () => {
    redis.disconnect();
  });

  const queueOf = (courseId: number) => partitionQueueOf(ctx.app, courseId);
  const jobData = (priority: number, keys: string[]): AllocationJobData => ({
    priority,
    requests: keys.map((key) => ({
      idempotencyKey: key,
      studentId: `s-${key}`,
      courseId: 1,
      requestedAt: new Date().toISOString(),
    })),
  });
  const countDecisionsOf = async (db: Awaited<ReturnType<typeof connect>>, courseId: number) =>
    (await db.query('SELECT count(*)::int AS n FROM decisions WHERE course_id = $1', [courseId])).rows[0]
      .n as number;
  const startWorker = async (env: Record<string, string> = {}) => {
    const worker = await startApp(ctx.world, { ROLE: 'worker', ...env });
    started.push(worker);
    return worker;
  };

  it('reads the waiting jobs in hand-out order, as many as fit, each with the requests it owns', async () => {
    // A queue of its own (no worker takes from it): the reading and removing scripts alone.
    const partition = 999;
    const queue = new Queue<AllocationJobData>(partitionQueueName(partition), {
      connection: { host: ctx.app.config.redis.host, port: ctx.app.config.redis.port },
      prefix: ctx.app.config.queuePrefix,
    });
    const read = (options: Parameters<typeof readPartitionJobs>[4]) =>
      readPartitionJobs(redis, queue, ctx.app.config.queuePrefix, partition, options);
    const ids = (jobs: Array<{ id: string }>) => jobs.map((job) => job.id);
    const keys = (job: { data: AllocationJobData }) =>
      job.data.requests.map((request) => request.idempotencyKey);
    try {
      const add = (id: string, priority: number, requestKeys: string[]) =>
        queue.add('decide-requests', jobData(priority, requestKeys), {
          jobId: id,
          priority: bullPriorityOf(priority),
        });
      await add('low-1', 0, ['a', 'b']);
      await add('low-2', 0, ['c', 'd']);
      await add('high', 100, ['e', 'f']);
      await add('low-3', 0, ['g', 'h', 'a']);
      await add('mid', 50, ['i']);

      const all = await read({ room: 100 });
      expect(ids(all)).toEqual(['high', 'mid', 'low-1', 'low-2', 'low-3']);
      // Without claims every request is owned, each key once: low-3's copy of 'a' is low-1's.
      expect(all.map(keys)).toEqual([['e', 'f'], ['i'], ['a', 'b'], ['c', 'd'], ['g', 'h']]);
      // Room for 4 requests: high (2) and mid (1) fit, low-1 (2) does not, and nothing behind it is taken.
      expect(ids(await read({ room: 4 }))).toEqual(['high', 'mid']);
      expect(await read({ room: 0 })).toEqual([]);
      // Jobs whose transaction is still open are passed over, and the room is counted after them.
      expect(ids(await read({ room: 4, skip: ['high', 'mid'] }))).toEqual(['low-1', 'low-2']);

      // A claim naming another job (a duplicate that rode along), or another student, is not owned here.
      const claim = (key: string, jobId: string, studentId = `s-${key}`) =>
        redis.set(
          claimKey(ctx.app.config.queuePrefix, partition, key),
          JSON.stringify({
            studentId,
            courseId: 1,
            priority: 0,
            requestedAt: new Date().toISOString(),
            jobId,
          }),
        );
      await claim('c', 'low-2');
      await claim('d', 'elsewhere');
      await claim('e', 'high', 'someone-else');
      const claimed = await read({ room: 100 });
      expect(claimed.map(keys)).toEqual([['f'], ['i'], ['a', 'b'], ['c'], ['g', 'h']]);

      // A job from an API that marks the jobs carrying duplicates owns all its requests unless it is marked;
      // its claims are then not even read (here one names another job, which cannot happen unmarked).
      const marked = { id: 'marked', data: { ...jobData(0, ['c', 'z']), duplicatesMarked: true as const } };
      expect((await read({ head: marked, room: 2 })).map(keys)).toEqual([['c', 'z']]);
      const duplicates = jobsWithDuplicatesKey(ctx.app.config.queuePrefix, partition);
      await redis.sadd(duplicates, 'marked');
      expect((await read({ head: marked, room: 2 })).map(keys)).toEqual([['z']]);
      // Forgetting a decided job takes it out of the set, whether or not it still waits.
      await removeWaitingJobs(redis, queue, ctx.app.config.queuePrefix, partition, ['marked']);
      expect(await redis.sismember(duplicates, 'marked')).toBe(0);

      // The active job comes first whatever its size, with its own requests checked the same way.
      const head = { id: 'active', data: jobData(0, ['x', 'y', 'c']) };
      const withHead = await read({ head, room: 3 });
      expect(ids(withHead)).toEqual(['active']);
      expect(keys(withHead[0])).toEqual(['x', 'y']);

      // A job put back in the wait list is handed out before every prioritized one: read nothing ahead.
      await redis.lpush(queue.keys.wait, 'stalled');
      expect(await read({ room: 100 })).toEqual([]);
      await redis.del(queue.keys.wait);

      // Removing skips what no longer waits, and leaves its hash alone.
      await redis.zrem(queue.keys.prioritized, 'mid');
      expect(
        await removeWaitingJobs(redis, queue, ctx.app.config.queuePrefix, partition, [
          'high',
          'mid',
          'low-1',
        ]),
      ).toBe(2);
      expect(await redis.exists(queue.toKey('high'), queue.toKey('low-1'))).toBe(0);
      expect(await redis.exists(queue.toKey('mid'))).toBe(1);
      expect(ids(await read({ room: 100 }))).toEqual(['low-2', 'low-3']);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('decides a batch committed by a worker that died before removing its jobs once, in order', async () => {
    // A worker process whose allocation workers are stopped: its AllocationService commits like a worker
    // that dies between the commit and the removal of the jobs it decided.
    const crashed = await startWorker();
    await crashed.app.get(AllocationProcessor).stop();
    const capacities = [6, 2];
    const courseIds = await Promise.all(capacities.map((capacity) => newCourse(ctx.baseUrl, capacity)));
    const sent = await sendInOrder(ctx.baseUrl, courseIds, 60, 'crash');

    const queue = queueOf(courseIds[0]);
    try {
      const partition = partitionOf(courseIds[0], ctx.app.config.allocationPartitions);
      const head = await readPartitionJobs(redis, queue, ctx.app.config.queuePrefix, partition, { room: 12 });
      expect(head.length).toBeGreaterThan(1);
      const committed = await crashed.app.get(AllocationService).decide(head.map((job) => job.data));
      expect(committed.length).toBe(head.reduce((sum, job) => sum + job.data.requests.length, 0));

      await startWorker({ DECISION_BATCH_MAX: '5' });
      const db = await connect(ctx.world.database.url);
      try {
        await eventually(async () => {
          const { rows } = await db.query(
            'SELECT count(*)::int AS n FROM decisions WHERE course_id = ANY($1::int[])',
            [courseIds],
          );
          return rows[0].n === sent.length ? true : undefined;
        }, 60_000);
      } finally {
        await db.end();
      }
      const { actual, expected } = await outcomesVersusReference(ctx.baseUrl, sent, courseIds, capacities);
      expect(actual).toEqual(expected);
      // The redelivered jobs decided nothing again and left the queue; nothing failed.
      await eventually(async () => ((await queue.count()) === 0 ? true : undefined));
      expect(await queue.getFailedCount()).toBe(0);
    } finally {
      await queue.close();
    }
  });

  it('decides a key sent at once by 25 students with 25 priorities for its one 202, never for a rider', async () => {
    const courseId = await newCourse(ctx.baseUrl, 500);
    // With no worker running, each priority's lane stores its requests in jobs of several (a lone request's
    // job is named after its key, so copies of one key alone would collapse into one job). A copy of the
    // contested key rides in its lane's job; riders with a higher priority than the winner stand ahead of
    // the winner's job, and must not take its decision.
    const send = (student: string, priority: number, key: string) =>
      http(ctx.baseUrl, 'POST', '/enroll', {
        student_id: student,
        course_id: courseId,
        priority,
        idempotency_key: key,
      });
    const lanes = Array.from({ length: 25 }, (_, lane) => lane * 4);
    const contest = lanes.map((priority) => {
      const first = send(`filler-${priority}-0`, priority, `filler-${priority}-0`);
      const rest = [1, 2, 3].map((n) => send(`filler-${priority}-${n}`, priority, `filler-${priority}-${n}`));
      return Promise.all([send(`contender-${priority}`, priority, 'contested-key'), first, ...rest]);
    });
    const contenders = (await Promise.all(contest)).map(([contender]) => contender);
    const winners = contenders.filter((response) => response.status === 202);
    expect(winners).toHaveLength(1);
    expect(contenders.filter((response) => response.status === 422)).toHaveLength(24);
    const winner = winners[0].body.student_id as string;
    const queue = queueOf(courseId);
    try {
      const riders = (await queue.getPrioritized()).filter(
        (job) =>
          job.data.requests.length > 1 &&
          job.data.requests.some(
            (request) => request.idempotencyKey === 'contested-key' && request.studentId !== winner,
          ),
      );
      // The path under test: riders that travel in jobs of their own lane (most lanes make one).
      expect(riders.length).toBeGreaterThan(0);

      await startWorker();
      expect((await waitForDecision(ctx.baseUrl, 'contested-key')).body).toMatchObject({
        status: 'enrolled',
        student_id: winner,
      });
      await eventually(async () => ((await queue.count()) === 0 ? true : undefined));
      expect(await queue.getFailedCount()).toBe(0);
    } finally {
      await queue.close();
    }
    const db = await connect(ctx.world.database.url);
    try {
      const { rows } = await db.query(
        "SELECT student_id FROM enrollments WHERE course_id = $1 AND student_id LIKE 'contender-%'",
        [courseId],
      );
      expect(rows.map((row) => row.student_id)).toEqual([winner]);
      expect(await countDecisionsOf(db, courseId)).toBe(25 * 4 + 1);
    } finally {
      await db.end();
    }
  });

  it('sets aside a job that cannot be decided as a dead letter, never taking the jobs ahead of it or behind it down', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    // A stray row already holds this key, so deciding the request violates a unique constraint every time.
    const db = await connect(ctx.world.database.url);
    try {
      await db.query(
        "INSERT INTO enrollments (course_id, student_id, idempotency_key) VALUES ($1, 'stray', 'poison-follower')",
        [courseId],
      );
      await db.query('UPDATE courses SET seats_taken = 1 WHERE id = $1', [courseId]);
    } finally {
      await db.end();
    }
    const send = (key: string, student: string) =>
      http(ctx.baseUrl, 'POST', '/enroll', {
        student_id: student,
        course_id: courseId,
        idempotency_key: key,
      });
    // Sent one at a time with no worker running: three jobs, the poisoned one in the middle.
    expect((await send('ahead-of-poison', 'pf-1')).status).toBe(202);
    expect((await send('poison-follower', 'pf-2')).status).toBe(202);
    expect((await send('behind-poison', 'pf-3')).status).toBe(202);

    await startWorker();
    expect((await waitForDecision(ctx.baseUrl, 'ahead-of-poison')).body).toMatchObject({
      status: 'enrolled',
    });
    expect((await waitForDecision(ctx.baseUrl, 'behind-poison')).body).toMatchObject({ status: 'enrolled' });
    // Set aside as a dead letter, with the error that keeps it from being decided; nothing else waits on it.
    const letter = await eventually(async () => {
      const listed = await http(ctx.baseUrl, 'GET', '/admin/dead-letters', undefined, asAdmin);
      return (listed.body as Array<{ error: string; requests: Array<{ idempotency_key: string }> }>).find(
        (found) => found.requests[0].idempotency_key === 'poison-follower',
      );
    }, 60_000);
    expect(letter.error).toMatch(/duplicate key/);
    expect((await http(ctx.baseUrl, 'GET', '/enrollments/poison-follower')).body.status).toBe('queued');
  });
});
