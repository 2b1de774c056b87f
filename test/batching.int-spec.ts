import { AllocationService } from '../src/allocation/allocation.service.js';
import type { AllocationJobData } from '../src/queue/allocation-queue.contract.js';
import { backendWaitingForCourseLock, connect, courseTruth, courseTruthAt } from './support/db-client.js';
import { http, newCourse, useWorld } from './support/test-app.js';

/** Batches decided in one transaction: the edges, against the real database. */
describe('batched allocation', () => {
  const ctx = useWorld({ appEnv: { ROLE: 'api' } });
  let allocation: AllocationService;

  beforeAll(async () => {
    // These tests hand batches straight to the allocation service of a worker process.
    const worker = await ctx.startApp({ ROLE: 'worker' });
    allocation = worker.app.get(AllocationService);
  });

  const job = (courseId: number, students: string[], prefix: string): AllocationJobData => ({
    priority: 0,
    requests: students.map((studentId, i) => ({
      idempotencyKey: `${prefix}-${i}`,
      studentId,
      courseId,
      requestedAt: new Date().toISOString(),
    })),
  });
  const outcome = async (key: string) => (await http(ctx.baseUrl, 'GET', `/enrollments/${key}`)).body;

  it('decides a batch that straddles the last seat in order', async () => {
    const courseId = await newCourse(ctx.baseUrl, 3);
    await allocation.decide([job(courseId, ['a', 'b'], 'straddle-first')]);
    const decisions = await allocation.decide([job(courseId, ['c', 'd', 'e'], 'straddle')]);
    expect(decisions.map((d) => d.status)).toEqual(['enrolled', 'waitlisted', 'waitlisted']);
    expect(await outcome('straddle-0')).toMatchObject({ status: 'enrolled' });
    expect(await outcome('straddle-1')).toMatchObject({ status: 'waitlisted', waitlist_position: 1 });
    expect(await outcome('straddle-2')).toMatchObject({ status: 'waitlisted', waitlist_position: 2 });
    expect(await courseTruthAt(ctx.world.database.url, courseId)).toEqual({
      capacity: 3,
      seats_taken: 3,
      waitlist_length: 2,
      enrollments: 3,
      waitlist_entries: 2,
    });
  });

  it('gives a student who appears twice in one batch one place and rejects the repeat', async () => {
    const courseId = await newCourse(ctx.baseUrl, 1);
    const decisions = await allocation.decide([job(courseId, ['dup', 'other', 'dup', 'other'], 'dupbatch')]);
    expect(decisions.map((d) => [d.status, d.reason])).toEqual([
      ['enrolled', null],
      ['waitlisted', null],
      ['rejected', 'already_enrolled'],
      ['rejected', 'already_waitlisted'],
    ]);
    expect(await outcome('dupbatch-3')).toMatchObject({ status: 'rejected', reason: 'already_waitlisted' });
  });

  it('decides only the undecided part of a batch that is delivered again with new requests', async () => {
    const courseId = await newCourse(ctx.baseUrl, 10);
    await allocation.decide([job(courseId, ['p', 'q'], 'partial')]);
    const again = await allocation.decide([job(courseId, ['p', 'q', 'r'], 'partial')]);
    expect(again.map((d) => d.idempotencyKey)).toEqual(['partial-2']);
    expect(await courseTruthAt(ctx.world.database.url, courseId)).toMatchObject({
      seats_taken: 3,
      enrollments: 3,
    });
  });

  it('decides a batch spanning several courses, each course in its own order', async () => {
    const small = await newCourse(ctx.baseUrl, 1);
    const large = await newCourse(ctx.baseUrl, 2);
    // Interleaved as one partition's lane would carry them; the same student may hold places in both.
    const students: Array<[number, string]> = [
      [large, 'm1'],
      [small, 'm1'],
      [small, 'm2'],
      [large, 'm2'],
      [small, 'm3'],
      [large, 'm3'],
      [large, 'm4'],
    ];
    const decisions = await allocation.decide([
      {
        priority: 0,
        requests: students.map(([courseId, studentId], i) => ({
          idempotencyKey: `multi-${i}`,
          studentId,
          courseId,
          requestedAt: new Date().toISOString(),
        })),
      },
    ]);
    expect(decisions.map((d) => [d.courseId, d.studentId, d.status, d.waitlistPosition])).toEqual([
      [large, 'm1', 'enrolled', null],
      [small, 'm1', 'enrolled', null],
      [small, 'm2', 'waitlisted', 1],
      [large, 'm2', 'enrolled', null],
      [small, 'm3', 'waitlisted', 2],
      [large, 'm3', 'waitlisted', 1],
      [large, 'm4', 'waitlisted', 2],
    ]);
    expect(await courseTruthAt(ctx.world.database.url, small)).toEqual({
      capacity: 1,
      seats_taken: 1,
      waitlist_length: 2,
      enrollments: 1,
      waitlist_entries: 2,
    });
    expect(await courseTruthAt(ctx.world.database.url, large)).toEqual({
      capacity: 2,
      seats_taken: 2,
      waitlist_length: 2,
      enrollments: 2,
      waitlist_entries: 2,
    });
    expect(await outcome('multi-6')).toMatchObject({ status: 'waitlisted', waitlist_position: 2 });
  });

  it('rejects a request for a course that no longer exists and still decides the rest of its batch', async () => {
    const courseId = await newCourse(ctx.baseUrl, 1);
    const missing = 2_000_000_000;
    const decisions = await allocation.decide([
      {
        priority: 0,
        requests: [
          {
            idempotencyKey: 'gone-0',
            studentId: 'g1',
            courseId: missing,
            requestedAt: new Date().toISOString(),
          },
          { idempotencyKey: 'gone-1', studentId: 'g1', courseId, requestedAt: new Date().toISOString() },
        ],
      },
    ]);
    expect(decisions.map((d) => [d.idempotencyKey, d.status, d.reason])).toEqual([
      ['gone-0', 'rejected', 'course_not_found'],
      ['gone-1', 'enrolled', null],
    ]);
    expect(await outcome('gone-0')).toMatchObject({ status: 'rejected', reason: 'course_not_found' });
    expect(await allocation.decide([job(missing, ['g1'], 'gone')])).toEqual([]);
  });

  it('retries a batch whose transaction fails, and writes it once', async () => {
    const courseId = await newCourse(ctx.baseUrl, 2);
    const blocker = await connect(ctx.world.database.url);
    const killer = await connect(ctx.world.database.url);
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM courses WHERE id = $1 FOR UPDATE', [courseId]);
      const deciding = allocation.decide([job(courseId, ['x1', 'x2', 'x3', 'x1'], 'failing')]);
      const waitingPid = await backendWaitingForCourseLock(killer, 'the batch to wait on the row lock');
      await killer.query('SELECT pg_terminate_backend($1)', [waitingPid]);
      await blocker.query('COMMIT');

      const decisions = await deciding;
      expect(decisions.map((d) => d.status)).toEqual(['enrolled', 'enrolled', 'waitlisted', 'rejected']);
      const { rows } = await killer.query(
        "SELECT count(*)::int AS n FROM decisions WHERE idempotency_key LIKE 'failing-%'",
      );
      expect(rows[0].n).toBe(4);
      expect(await courseTruth(killer, courseId)).toMatchObject({
        seats_taken: 2,
        enrollments: 2,
        waitlist_length: 1,
        waitlist_entries: 1,
      });
    } finally {
      await blocker.end();
      await killer.end();
    }
  });
});
