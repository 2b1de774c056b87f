import { Worker } from 'bullmq';
import { allocationJobOptions, AllocationJobName } from '../src/queue/allocation-queue.contract.js';
import { connect } from './support/db-client.js';
import {
  asAdmin,
  asClient,
  eventually,
  http,
  newCourse,
  partitionQueueOf,
  startApp,
  useWorld,
  waitForDecision,
} from './support/test-app.js';

/**
 * A request that really fails inside PostgreSQL (a trigger this test installs raises for one student):
 * only it becomes a dead letter; its batch-mates are decided as if nothing happened, in their order; an
 * operator sees it, retries it or rejects it.
 */
describe('dead letters', () => {
  const ctx = useWorld({ env: { DEAD_LETTER_ATTEMPTS: '2' }, appEnv: { ROLE: 'api' } });

  beforeAll(async () => {
    const db = await connect(ctx.world.database.url);
    try {
      await db.query(`CREATE TABLE poisoned (student_id varchar PRIMARY KEY)`);
      await db.query(`CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.status <> 'rejected' AND EXISTS (SELECT 1 FROM poisoned WHERE student_id = NEW.student_id) THEN
            RAISE EXCEPTION 'poisoned student %', NEW.student_id;
          END IF;
          RETURN NEW;
        END $$`);
      await db.query(
        `CREATE TRIGGER poison BEFORE INSERT ON decisions FOR EACH ROW EXECUTE FUNCTION poison()`,
      );
    } finally {
      await db.end();
    }
    await setPoisoned(['poison-1', 'poison-2']);
  });

  async function setPoisoned(students: string[]) {
    const db = await connect(ctx.world.database.url);
    try {
      for (const student of students) await db.query('INSERT INTO poisoned VALUES ($1)', [student]);
    } finally {
      await db.end();
    }
  }

  const call = (method: string, path: string, headers: Record<string, string> = asAdmin) =>
    http(ctx.baseUrl, method, path, undefined, headers);
  const enroll = (courseId: number, student: string, key: string) =>
    http(ctx.baseUrl, 'POST', '/enroll', { student_id: student, course_id: courseId, idempotency_key: key });

  it('sets aside only the failing request, decides its batch-mates in order, and lets an operator act', async () => {
    const courseId = await newCourse(ctx.baseUrl, 3);
    // Queued while no worker runs, so the worker finds them all in one batch.
    const students = ['s-a', 's-b', 'poison-1', 's-c', 's-d', 's-e', 'poison-2'];
    for (const [n, student] of students.entries()) {
      expect((await enroll(courseId, student, `dl-${n}`)).status).toBe(202);
    }
    const worker = await startApp(ctx.world, { ROLE: 'worker' });
    try {
      const outcome = async (n: number) => (await waitForDecision(ctx.baseUrl, `dl-${n}`)).body;
      expect(await outcome(0)).toMatchObject({ status: 'enrolled' });
      expect(await outcome(1)).toMatchObject({ status: 'enrolled' });
      expect(await outcome(3)).toMatchObject({ status: 'enrolled' });
      expect(await outcome(4)).toMatchObject({ status: 'waitlisted', waitlist_position: 1 });
      expect(await outcome(5)).toMatchObject({ status: 'waitlisted', waitlist_position: 2 });

      const listed = await eventually(async () => {
        const answer = await call('GET', '/admin/dead-letters');
        return answer.body.length === 2 ? answer.body : undefined;
      }, 60_000);
      console.log(`GET /admin/dead-letters: ${JSON.stringify(listed, null, 1)}`);
      expect(
        listed.map(
          (letter: { requests: Array<{ idempotency_key: string }> }) => letter.requests[0].idempotency_key,
        ),
      ).toEqual(['dl-2', 'dl-6']);
      expect(listed[0]).toMatchObject({
        id: expect.stringMatching(/^\d+$/),
        error: expect.stringContaining('poisoned student poison-1'),
        attempts: 2,
        failed_at: expect.stringMatching(/Z$/),
        requests: [{ idempotency_key: 'dl-2', student_id: 'poison-1', status: 'queued', decided_at: null }],
      });
      expect((await call('GET', '/enrollments/dl-2', {})).body.status).toBe('queued');
      const metrics = await (await fetch(`${ctx.baseUrl}/metrics`, { headers: asClient })).text();
      expect(metrics).toMatch(/^courseflow_dead_letters 2$/m);

      // Retried while still poisoned: it fails again and comes back with more attempts.
      const retried = await call('POST', `/admin/dead-letters/${listed[0].id}/retry`);
      expect(retried.status).toBe(202);
      const again = await eventually(async () => {
        const answer = await call('GET', '/admin/dead-letters');
        const letter = answer.body.find(
          (l: { requests: Array<{ idempotency_key: string }> }) => l.requests[0].idempotency_key === 'dl-2',
        );
        return letter ? letter : undefined;
      }, 60_000);
      expect(again.attempts).toBe(2);

      // Cured: a retry decides it as usual, once.
      const db = await connect(ctx.world.database.url);
      try {
        await db.query(`DELETE FROM poisoned WHERE student_id = 'poison-1'`);
      } finally {
        await db.end();
      }
      expect((await call('POST', `/admin/dead-letters/${again.id}/retry`)).status).toBe(202);
      expect((await waitForDecision(ctx.baseUrl, 'dl-2')).body).toMatchObject({
        status: 'waitlisted',
        waitlist_position: 3,
      });

      // The other is rejected by the operator.
      const rejected = await call('POST', `/admin/dead-letters/${listed[1].id}/reject`);
      expect(rejected.status).toBe(200);
      expect(rejected.body.requests[0]).toMatchObject({ status: 'rejected', reason: 'dead_letter' });
      expect((await call('GET', '/admin/dead-letters')).body).toEqual([]);
      expect(await (await fetch(`${ctx.baseUrl}/metrics`, { headers: asClient })).text()).toMatch(
        /^courseflow_dead_letters 0$/m,
      );
      expect((await call('POST', `/admin/dead-letters/${listed[1].id}/reject`)).status).toBe(404);
      expect((await call('POST', '/admin/dead-letters/abc/retry')).status).toBe(404);
      expect((await call('GET', '/admin/dead-letters', {})).status).toBe(401);

      // On the record, in order: each transition with its key.
      const events = (await call('GET', `/courses/${courseId}/events?limit=1000`)).body.events as Array<{
        type: string;
        idempotency_key: string;
      }>;
      const about = (key: string) =>
        events.filter((event) => event.idempotency_key === key).map((event) => event.type);
      expect(about('dl-2')).toEqual([
        'dead_lettered',
        'dead_letter_retried',
        'dead_lettered',
        'dead_letter_retried',
        'waitlisted',
      ]);
      expect(about('dl-6')).toEqual(['dead_lettered', 'rejected']);
    } finally {
      await worker.close();
    }
  }, 120_000);

  it('keeps a dead letter listed, with nothing on the record, when the queue refuses its retry', async () => {
    const courseId = await newCourse(ctx.baseUrl, 3);
    await setPoisoned(['poison-r']);
    expect((await enroll(courseId, 'poison-r', 'dl-refused')).status).toBe(202);
    const worker = await startApp(ctx.world, { ROLE: 'worker' });
    let letter: { id: string };
    try {
      letter = await eventually(async () => {
        const answer = await call('GET', '/admin/dead-letters');
        return answer.body.find(
          (l: { requests: Array<{ idempotency_key: string }> }) =>
            l.requests[0].idempotency_key === 'dl-refused',
        );
      }, 60_000);
    } finally {
      await worker.close();
    }
    const eventsBefore = (await call('GET', '/enrollments/dl-refused/events')).body.events;
    // An API process whose Redis is away: the retry cannot be queued.
    const cutOff = await startApp(ctx.world, { ROLE: 'api', REDIS_PORT: '6399' });
    try {
      const refused = await http(
        cutOff.baseUrl,
        'POST',
        `/admin/dead-letters/${letter.id}/retry`,
        undefined,
        asAdmin,
      );
      expect(refused.status).toBe(503);
      expect(refused.body.message).toBe('the queue (Redis) is unavailable; retry later');
    } finally {
      await cutOff.close();
    }
    const listed = (await call('GET', '/admin/dead-letters')).body as Array<{ id: string }>;
    expect(listed.map(({ id }) => id)).toContain(letter.id);
    expect((await call('GET', '/enrollments/dl-refused/events')).body.events).toEqual(eventsBefore);
    // Rejected by the operator instead: decided once, off the list.
    expect((await call('POST', `/admin/dead-letters/${letter.id}/reject`)).status).toBe(200);
  });

  it('splits a job carrying a failing request: the others in it are decided in their order', async () => {
    const courseId = await newCourse(ctx.baseUrl, 2);
    await setPoisoned(['poison-3']);
    const students = ['j-a', 'poison-3', 'j-b', 'j-c', 'j-d'];
    const queue = partitionQueueOf(ctx.app, courseId);
    try {
      // One job of five requests, as the API's group commit makes under a stampede.
      await queue.add(
        AllocationJobName.DecideRequests,
        {
          priority: 0,
          duplicatesMarked: true,
          requests: students.map((student, n) => ({
            idempotencyKey: `job-${n}`,
            studentId: student,
            courseId,
            requestedAt: new Date().toISOString(),
          })),
        },
        allocationJobOptions(0),
      );
    } finally {
      await queue.close();
    }
    const worker = await startApp(ctx.world, { ROLE: 'worker' });
    try {
      const outcomes = [];
      for (const n of [0, 2, 3, 4]) outcomes.push((await waitForDecision(ctx.baseUrl, `job-${n}`)).body);
      expect(outcomes.map((request) => [request.status, request.waitlist_position])).toEqual([
        ['enrolled', null],
        ['enrolled', null],
        ['waitlisted', 1],
        ['waitlisted', 2],
      ]);
      const letter = await eventually(async () => {
        const answer = await call('GET', '/admin/dead-letters');
        return answer.body.find(
          (l: { requests: Array<{ idempotency_key: string }> }) => l.requests[0].idempotency_key === 'job-1',
        );
      }, 60_000);
      expect(letter.error).toContain('poisoned student poison-3');
      expect((await call('POST', `/admin/dead-letters/${letter.id}/reject`)).status).toBe(200);
    } finally {
      await worker.close();
    }
  }, 120_000);

  it('turns a job that failed anyway (as one that kills its workers does) into dead letters, once', async () => {
    const courseId = await newCourse(ctx.baseUrl, 2);
    const queue = partitionQueueOf(ctx.app, courseId);
    const requests = ['f-a', 'f-b'].map((student, n) => ({
      idempotencyKey: `failed-${n}`,
      studentId: student,
      courseId,
      requestedAt: new Date().toISOString(),
    }));
    try {
      await queue.add(
        AllocationJobName.DecideRequests,
        { priority: 0, duplicatesMarked: true, requests },
        { ...allocationJobOptions(0), jobId: 'job-that-failed' },
      );
      // Taken and failed by a stand-in worker, as BullMQ fails a job that stalled too many times.
      const standIn = new Worker(queue.name, null, {
        connection: { host: ctx.app.config.redis.host, port: ctx.app.config.redis.port },
        prefix: ctx.app.config.queuePrefix,
      });
      try {
        const job = await standIn.getNextJob('stand-in');
        expect(job?.id).toBe('job-that-failed');
        await job!.moveToFailed(new Error('job stalled more than allowable limit'), 'stand-in');
      } finally {
        await standIn.close();
      }
      expect(await queue.getFailedCount()).toBe(1);

      // Two workers hear of it (the start sweep, the failure event): each request is set aside once.
      const workers = [
        await startApp(ctx.world, { ROLE: 'worker' }),
        await startApp(ctx.world, { ROLE: 'worker' }),
      ];
      try {
        const letters = await eventually(async () => {
          const listed = (await call('GET', '/admin/dead-letters')).body as Array<{
            error: string;
            attempts: number;
            requests: Array<{ idempotency_key: string; status: string }>;
          }>;
          const mine = listed.filter((letter) => letter.requests[0].idempotency_key.startsWith('failed-'));
          return mine.length === 2 ? mine : undefined;
        }, 60_000);
        expect(
          letters.map((letter) => [letter.requests[0].idempotency_key, letter.requests[0].status]),
        ).toEqual([
          ['failed-0', 'queued'],
          ['failed-1', 'queued'],
        ]);
        expect(letters[0]).toMatchObject({ error: 'job stalled more than allowable limit', attempts: 1 });
        await eventually(async () => ((await queue.getFailedCount()) === 0 ? true : undefined));
        const events = (await call('GET', `/courses/${courseId}/events`)).body.events as Array<{
          type: string;
        }>;
        expect(events.map((event) => event.type)).toEqual(['dead_lettered', 'dead_lettered']);
      } finally {
        await Promise.all(workers.map((worker) => worker.close()));
      }
    } finally {
      await queue.close();
    }
  }, 120_000);
});
