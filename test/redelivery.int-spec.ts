import { Redis } from 'ioredis';
import { AllocationService } from '../src/allocation/allocation.service.js';
import {
  AllocationJobName,
  bullPriorityOf,
  partitionOf,
  type AllocationJobData,
} from '../src/queue/allocation-queue.contract.js';
import { deleteRedisKeys } from '../scripts/kit.mjs';
import {
  backendWaitingForCourseLock,
  connect,
  countDecisions,
  courseTruth,
  courseTruthAt,
} from './support/db-client.js';
import {
  asAdmin,
  eventually,
  http,
  newCourse,
  partitionQueueOf,
  useWorld,
  waitForDecision,
} from './support/test-app.js';

/** docs/guarantees.md §5: a redelivered or retried job, or a claim Redis lost, still ends in one decision. */
describe('exactly one outcome', () => {
  const ctx = useWorld({ appEnv: { ROLE: 'all' } });

  const decisionCount = (key: string) => countDecisions(ctx.world.database.url, key);
  const outcomeOf = async (key: string) => (await waitForDecision(ctx.baseUrl, key)).body;
  const queueOf = (courseId: number) => partitionQueueOf(ctx.app, courseId);

  it('decides a job delivered twice at the same moment once', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    const job: AllocationJobData = {
      priority: 0,
      requests: [
        { idempotencyKey: 'twice-1', studentId: 'tw-1', courseId, requestedAt: new Date().toISOString() },
      ],
    };
    const allocation = ctx.app.app.get(AllocationService);
    const [first, second] = await Promise.all([allocation.decide([job]), allocation.decide([job])]);
    // One delivery decides; the other waits on the row lock, then finds the decision and adds nothing.
    expect([first.length, second.length].sort()).toEqual([0, 1]);
    expect(await allocation.decide([job])).toEqual([]);
    expect(await decisionCount('twice-1')).toBe(1);
    expect(await courseTruthAt(ctx.world.database.url, courseId)).toMatchObject({
      seats_taken: 1,
      enrollments: 1,
    });
  });

  it('ignores a redelivered queue job whose request was already decided', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    const accepted = await http(ctx.baseUrl, 'POST', '/enroll', {
      student_id: 'rd-1',
      course_id: courseId,
      idempotency_key: 'redelivered-1',
    });
    expect(accepted.status).toBe(202);
    expect(await outcomeOf('redelivered-1')).toMatchObject({ status: 'enrolled' });

    // The same request again under another job id, as a stalled job handed to a second worker would be.
    const queue = queueOf(courseId);
    try {
      const data: AllocationJobData = {
        priority: 0,
        requests: [
          {
            idempotencyKey: 'redelivered-1',
            studentId: 'rd-1',
            courseId,
            requestedAt: accepted.body.requested_at,
          },
        ],
      };
      const job = await queue.add(AllocationJobName.DecideRequests, data, {
        jobId: 'redelivery-copy',
        priority: bullPriorityOf(0),
      });
      await eventually(async () =>
        (await job.isCompleted()) || (await queue.getJob('redelivery-copy')) === undefined ? true : undefined,
      );
    } finally {
      await queue.close();
    }
    expect(await decisionCount('redelivered-1')).toBe(1);
    const course = (await http(ctx.baseUrl, 'GET', `/courses/${courseId}`)).body;
    expect(course).toMatchObject({ seats_taken: 1, waitlist_length: 0 });
  });

  it('answers a replay with the decision PostgreSQL holds when Redis lost the claim, and queues nothing', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    const request = { student_id: 'lost-1', course_id: courseId, priority: 3, idempotency_key: 'lost-claim' };
    expect((await http(ctx.baseUrl, 'POST', '/enroll', request)).status).toBe(202);
    expect(await outcomeOf('lost-claim')).toMatchObject({ status: 'enrolled' });

    // Redis restarted without its data: the claims are gone, the decision is in PostgreSQL.
    await deleteRedisKeys(`${ctx.app.config.queuePrefix}:*:request:*`);
    const replay = await http(ctx.baseUrl, 'POST', '/enroll', request);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({
      status: 'enrolled',
      student_id: 'lost-1',
      decided_at: expect.any(String),
    });
    expect((await http(ctx.baseUrl, 'POST', '/enroll', { ...request, priority: 4 })).status).toBe(422);

    const redis = new Redis({ host: ctx.app.config.redis.host, port: ctx.app.config.redis.port });
    try {
      expect(await redis.keys(`${ctx.app.config.queuePrefix}:*:request:lost-claim`)).toEqual([]);
    } finally {
      redis.disconnect();
    }
    expect(await decisionCount('lost-claim')).toBe(1);
  });

  it('decides a key sent many times at once by one job, once', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    const request = { student_id: 'dup-1', course_id: courseId, idempotency_key: 'many-at-once' };
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => http(ctx.baseUrl, 'POST', '/enroll', request)),
    );
    expect(answers.filter((answer) => answer.status === 202)).toHaveLength(1);
    expect(answers.every((answer) => answer.status === 202 || answer.status === 200)).toBe(true);
    expect(await outcomeOf('many-at-once')).toMatchObject({ status: 'enrolled' });
    expect(await decisionCount('many-at-once')).toBe(1);
    expect(await courseTruthAt(ctx.world.database.url, courseId)).toMatchObject({
      seats_taken: 1,
      enrollments: 1,
    });
  });

  it('sets aside a request that keeps violating a constraint as a dead letter, so the courses behind it are decided', async () => {
    const partitions = ctx.app.config.allocationPartitions;
    const poisoned = await newCourse(ctx.baseUrl, 5);
    let behind = await newCourse(ctx.baseUrl, 5);
    while (partitionOf(behind, partitions) !== partitionOf(poisoned, partitions)) {
      behind = await newCourse(ctx.baseUrl, 5);
    }
    // A stray row already holds the key, so inserting this request's enrollment violates a unique
    // constraint (23505) on every try: a retry can never succeed.
    const db = await connect(ctx.world.database.url);
    try {
      await db.query(
        "INSERT INTO enrollments (course_id, student_id, idempotency_key) VALUES ($1, 'stray', 'poisoned-key')",
        [poisoned],
      );
      await db.query('UPDATE courses SET seats_taken = 1 WHERE id = $1', [poisoned]);
    } finally {
      await db.end();
    }
    const first = await http(ctx.baseUrl, 'POST', '/enroll', {
      student_id: 'poison-1',
      course_id: poisoned,
      idempotency_key: 'poisoned-key',
    });
    expect(first.status).toBe(202);
    const second = await http(ctx.baseUrl, 'POST', '/enroll', {
      student_id: 'behind-1',
      course_id: behind,
      idempotency_key: 'behind-the-poison',
    });
    expect(second.status).toBe(202);

    expect(await outcomeOf('behind-the-poison')).toMatchObject({ status: 'enrolled' });
    // Set aside as a dead letter with the constraint's error; the course behind it was decided meanwhile.
    const letter = await eventually(async () => {
      const listed = await http(ctx.baseUrl, 'GET', '/admin/dead-letters', undefined, asAdmin);
      return (listed.body as Array<{ error: string; requests: Array<{ idempotency_key: string }> }>).find(
        (found) => found.requests[0].idempotency_key === 'poisoned-key',
      );
    }, 60_000);
    expect(letter.error).toMatch(/enrollments|duplicate key/);
    expect(await decisionCount('poisoned-key')).toBe(0);
    expect((await http(ctx.baseUrl, 'GET', '/enrollments/poisoned-key')).body.status).toBe('queued');
  });

  it('retries a transaction whose database connection dies, and decides once', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    const blocker = await connect(ctx.world.database.url);
    const killer = await connect(ctx.world.database.url);
    try {
      // Hold the course row so the worker's transaction waits on the lock, then kill its connection.
      await blocker.query('BEGIN');
      await blocker.query('SELECT * FROM courses WHERE id = $1 FOR UPDATE', [courseId]);
      const accepted = await http(ctx.baseUrl, 'POST', '/enroll', {
        student_id: 'tr-1',
        course_id: courseId,
        idempotency_key: 'transient-1',
      });
      expect(accepted.status).toBe(202);
      const waitingPid = await backendWaitingForCourseLock(killer, 'the worker to wait on the row lock');
      await killer.query('SELECT pg_terminate_backend($1)', [waitingPid]);
      await blocker.query('COMMIT');

      expect(await outcomeOf('transient-1')).toMatchObject({ status: 'enrolled' });
      expect(await decisionCount('transient-1')).toBe(1);
      expect(await courseTruth(killer, courseId)).toMatchObject({ seats_taken: 1, enrollments: 1 });
    } finally {
      await blocker.end();
      await killer.end();
    }
  });
});
