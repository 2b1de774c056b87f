import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { LiveEvent } from '../scripts/kit.mjs';
import { partitionOf } from '../src/queue/allocation-queue.contract.js';
import { WorkerPool } from './support/child-service.js';
import { connect } from './support/db-client.js';
import { foldCourse, lifecycleViolation } from './support/lifecycle.js';
import {
  asAdmin,
  courseEvents,
  eventually,
  http,
  type HttpResult,
  partitionQueueOf,
  useWorld,
} from './support/test-app.js';
import { countBy, inParallel, randomSource, shuffled } from './support/race-kit.js';

interface Meeting {
  days: string;
  start: string;
  end: string;
}

interface CourseShape {
  capacity: number;
  credits: number;
  meetings: Meeting[];
}

interface Limits {
  max_credits: number | null;
  max_waitlisted: number | null;
}

type OverrideKind = 'time_conflict' | 'max_credits' | 'max_waitlisted';

const minutes = (time: string): number => Number(time.slice(0, 2)) * 60 + Number(time.slice(3));

/** docs/guarantees.md §23: two meetings overlap when they share a day and one starts before the other ends. */
const meetingsOverlap = (a: readonly Meeting[], b: readonly Meeting[]): boolean =>
  a.some((x) =>
    b.some(
      (y) =>
        [...x.days].some((day) => y.days.includes(day)) &&
        minutes(x.start) < minutes(y.end) &&
        minutes(y.start) < minutes(x.end),
    ),
  );

/**
 * Guarantee 8 under real races: an API process (in this process, ROLE=api) and two worker processes (the
 * built service as child processes, ROLE=worker) against the real PostgreSQL and Redis, with each
 * student's requests for different courses on different partitions, so different workers decide them at
 * once. At rest, the schedules are checked on the rows, through the API and against the event record.
 */
describe('schedule races', () => {
  const seed = Number(process.env.RACE_SEED ?? Date.now() % 1_000_000_007);
  const random = randomSource(seed);
  const tag = `sr${randomBytes(3).toString('hex')}`;
  // Before useWorld(): the worker processes stop before the world goes.
  const pool = new WorkerPool(() => ({ ...ctx.world.env, ROLE: 'worker', WORKER_CONCURRENCY: '4' }));
  afterAll(() => pool.killAll());
  // Six partitions: five courses of one student can sit on five different ones. The default credit limit
  // is the limit of a student no operator gave one (every other student here has limits of their own).
  const ctx = useWorld({
    env: { ALLOCATION_PARTITIONS: '6', DEFAULT_MAX_CREDITS: '12' },
    appEnv: { ROLE: 'api' },
  });

  const runWorkers = (count: number) => pool.scaleTo(count);

  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    http(ctx.baseUrl, method, path, body, headers);
  const setLimits = (studentId: string, limits: Limits) =>
    call('PUT', `/admin/students/${studentId}/limits`, limits, asAdmin);
  const scheduleOf = async (studentId: string) => {
    const answer = await call('GET', `/students/${studentId}/schedule`);
    expect(answer.status).toBe(200);
    return answer.body;
  };

  let courseCounter = 0;
  async function createCourse(shape: CourseShape): Promise<number> {
    courseCounter += 1;
    const code = `${tag}-${courseCounter}`;
    const created = await call('POST', '/courses', { code, title: code, ...shape }, asAdmin);
    expect(created.status).toBe(201);
    return created.body.id as number;
  }

  /** Creates courses until one of each shape sits on a partition of its own (spare courses stay empty). */
  async function onDistinctPartitions(shapes: readonly CourseShape[]): Promise<number[]> {
    const partitions = ctx.app.config.allocationPartitions;
    expect(partitions).toBeGreaterThanOrEqual(shapes.length);
    const taken = new Set<number>();
    const ids: number[] = [];
    for (let made = 0; ids.length < shapes.length; made += 1) {
      if (made > partitions * 4) throw new Error(`no ${shapes.length} courses on distinct partitions`);
      const id = await createCourse(shapes[ids.length]);
      const partition = partitionOf(id, partitions);
      if (taken.has(partition)) continue;
      taken.add(partition);
      ids.push(id);
    }
    return ids;
  }

  async function withDb<T>(work: (db: pg.Client) => Promise<T>): Promise<T> {
    const db = await connect(ctx.world.database.url);
    try {
      return await work(db);
    } finally {
      await db.end();
    }
  }

  /** Waits on one cheap count rather than polling hundreds of keys. */
  const decisionsReach = (courseIds: readonly number[], count: number) =>
    withDb((db) =>
      eventually(
        async () => {
          const { rows } = await db.query(
            'SELECT count(*)::int AS n FROM decisions WHERE course_id = ANY($1::int[])',
            [courseIds],
          );
          return rows[0].n >= count ? (rows[0].n as number) : undefined;
        },
        60_000,
        `${count} decisions for courses ${courseIds.join(', ')}`,
      ),
    );

  /** The course's partition queue holds no job left to run, and none has failed. */
  async function queueDrained(courseId: number): Promise<void> {
    const queue = partitionQueueOf(ctx.app, courseId);
    try {
      const counts = await eventually(
        async () => {
          const found = await queue.getJobCounts(
            'waiting',
            'active',
            'delayed',
            'prioritized',
            'waiting-children',
            'failed',
          );
          const { failed, ...pending } = found;
          return Object.values(pending).every((n) => n === 0) ? { failed } : undefined;
        },
        60_000,
        `the partition queue of course ${courseId} to drain`,
      );
      expect(counts.failed).toBe(0);
    } finally {
      await queue.close();
    }
  }

  /** Every student_loads row next to what enrollments and waitlist_entries say; only disagreements. */
  const loadMismatches = (db: pg.Client) =>
    db
      .query(
        `WITH truth AS (
           SELECT student_id, sum(credits)::float AS credits, sum(waiting)::int AS waiting
             FROM (SELECT e.student_id, c.credits, 0 AS waiting
                     FROM enrollments e JOIN courses c ON c.id = e.course_id
                   UNION ALL
                   SELECT w.student_id, 0, 1 FROM waitlist_entries w) held
            GROUP BY student_id)
         SELECT coalesce(l.student_id, t.student_id) AS student_id,
                l.enrolled_credits::float AS stored_credits, coalesce(t.credits, 0) AS true_credits,
                l.waitlisted_count AS stored_waitlisted, coalesce(t.waiting, 0) AS true_waitlisted
           FROM student_loads l FULL JOIN truth t ON t.student_id = l.student_id
          WHERE l.student_id IS NULL
             OR l.enrolled_credits <> coalesce(t.credits, 0)
             OR l.waitlisted_count <> coalesce(t.waiting, 0)
          ORDER BY 1`,
      )
      .then((result) => result.rows);

  // 'as they arrive': the workers decide while the 500 POSTs are still coming in; 'from a full queue': the
  // 500 are queued with no worker running, then two workers start and drain five partitions at once.
  // 'set by PUT': each student's limit is their own, so they have a load row before their first request;
  // 'the default': they have none, and five transactions race to create it.
  it.each([
    ['as they arrive', 'set by PUT'],
    ['from a full queue', 'set by PUT'],
    ['as they arrive', 'the default'],
    ['from a full queue', 'the default'],
  ] as const)(
    'enrolls each of 100 students in exactly 12 credits when their 500 requests for five 4-credit courses on five partitions race (decided %s, limit %s)',
    async (mode, limit) => {
      const startedAt = Date.now();
      await runWorkers(mode === 'as they arrive' ? 2 : 0);
      const courseIds = await onDistinctPartitions(
        Array.from({ length: 5 }, () => ({ capacity: 100, credits: 4, meetings: [] })),
      );
      const partitions = courseIds.map((id) => partitionOf(id, ctx.app.config.allocationPartitions));
      expect(new Set(partitions).size).toBe(5);
      const round = `${mode === 'as they arrive' ? 'arrive' : 'queued'}-${limit === 'set by PUT' ? 'own' : 'default'}`;
      const students = Array.from({ length: 100 }, (_, i) => `${tag}-${round}-${String(i).padStart(3, '0')}`);
      if (limit === 'set by PUT') {
        const limited = await inParallel(students, 16, (student) =>
          setLimits(student, { max_credits: 12, max_waitlisted: null }),
        );
        expect(limited.filter((answer) => answer.status !== 200)).toEqual([]);
      } else {
        const rows = await withDb((db) =>
          db.query('SELECT student_id FROM student_loads WHERE student_id = ANY($1::varchar[])', [students]),
        );
        expect(rows.rows).toEqual([]);
      }

      // Each student's five requests are sent side by side (in a random course order), so they reach the
      // five partitions together and different workers decide them at the same moment.
      const requests = students.flatMap((student) =>
        shuffled(courseIds, random).map((courseId) => ({
          student_id: student,
          course_id: courseId,
          idempotency_key: `${student}-course-${courseId}`,
        })),
      );
      const sentAt = performance.now();
      const accepted = await Promise.all(requests.map((body) => call('POST', '/enroll', body)));
      const acceptMs = Math.round(performance.now() - sentAt);
      expect(
        accepted.filter((answer) => answer.status !== 202).map((answer) => [answer.status, answer.body]),
      ).toEqual([]);
      if (mode === 'from a full queue') {
        // Nothing is decided with no worker running (the API never decides).
        expect(await decisionsReach(courseIds, 0)).toBe(0);
        await runWorkers(2);
      }
      await decisionsReach(courseIds, 500);
      const restMs = Math.round(performance.now() - sentAt);

      // Through the API: three seats and two max_credits rejections per student, whichever three.
      const requestsOf = await inParallel(students, 16, async (student) => {
        const answer = await call('GET', `/students/${student}/requests`);
        expect(answer.status).toBe(200);
        return answer.body as Array<{ course_id: number; status: string; reason: string | null }>;
      });
      const outcomes = requestsOf.map((mine) =>
        countBy(
          mine.map((request) => (request.reason ? `${request.status}:${request.reason}` : request.status)),
        ),
      );
      expect(
        students
          .map((student, i) => ({ student, outcomes: outcomes[i] }))
          .filter(({ outcomes }) => !sameCounts(outcomes, { enrolled: 3, 'rejected:max_credits': 2 })),
      ).toEqual([]);
      const schedules = await inParallel(students, 16, scheduleOf);
      expect(
        schedules
          .filter(
            (schedule) =>
              schedule.enrolled_credits !== 12 ||
              schedule.max_credits !== 12 ||
              schedule.enrolled.length !== 3 ||
              schedule.waitlisted_count !== 0 ||
              schedule.waiting.length !== 0,
          )
          .map((schedule) => ({ ...schedule, enrolled: schedule.enrolled.map((r: any) => r.course_id) })),
      ).toEqual([]);

      // The record agrees: per student, three `enrolled` and two `rejected` (max_credits) across the five.
      const events = (await Promise.all(courseIds.map((id) => courseEvents(ctx.baseUrl, id)))).flat();
      expect(events).toHaveLength(500);
      const recorded = new Map<string, Record<string, number>>();
      for (const event of events) {
        const kind = event.reason ? `${event.type}:${event.reason}` : event.type;
        const counts = recorded.get(event.student_id!) ?? {};
        recorded.set(event.student_id!, { ...counts, [kind]: (counts[kind] ?? 0) + 1 });
      }
      expect(
        students
          .map((student) => ({ student, recorded: recorded.get(student) }))
          .filter(({ recorded }) => !sameCounts(recorded ?? {}, { enrolled: 3, 'rejected:max_credits': 2 })),
      ).toEqual([]);
      expect(events.filter((event) => !/^[0-9]+$/.test(event.txid ?? ''))).toEqual([]);

      // The rows: seats within capacity, the counters and the load rows equal to the truth.
      const { perCourse, contention } = await withDb(async (db) => {
        const { rows } = await db.query(
          `SELECT c.id, c.capacity, c.seats_taken, c.waitlist_length,
                (SELECT count(*)::int FROM enrollments e WHERE e.course_id = c.id) AS enrollments
           FROM courses c WHERE c.id = ANY($1::int[]) ORDER BY c.id`,
          [courseIds],
        );
        expect(await loadMismatches(db)).toEqual([]);
        const { rows: loads } = await db.query(
          `SELECT enrolled_credits::float AS credits, waitlisted_count AS waiting, count(*)::int AS students
           FROM student_loads WHERE student_id = ANY($1::varchar[]) GROUP BY 1, 2`,
          [students],
        );
        expect(loads).toEqual([{ credits: 12, waiting: 0, students: 100 }]);
        // How hard the race was: per student, the transactions that decided their five requests and how far
        // apart those transactions started.
        const { rows: spread } = await db.query(
          `SELECT count(DISTINCT txid)::int AS commits,
                extract(epoch FROM max(decided_at) - min(decided_at))::float * 1000 AS spread_ms
           FROM decisions WHERE course_id = ANY($1::int[]) GROUP BY student_id ORDER BY spread_ms`,
          [courseIds],
        );
        const {
          rows: [overall],
        } = await db.query(
          `SELECT count(DISTINCT txid)::int AS commits,
                  extract(epoch FROM max(decided_at) - min(decided_at))::float * 1000 AS span_ms
             FROM decisions WHERE course_id = ANY($1::int[])`,
          [courseIds],
        );
        return {
          perCourse: rows,
          contention: {
            fiveCommits: spread.filter((row) => row.commits === 5).length,
            within50ms: spread.filter((row) => row.spread_ms <= 50).length,
            medianMs: Math.round(spread[Math.floor(spread.length / 2)].spread_ms),
            commits: overall.commits as number,
            spanMs: Math.max(1, Math.round(overall.span_ms)),
          },
        };
      });
      expect(
        perCourse.filter(
          (row) =>
            row.seats_taken !== row.enrollments || row.seats_taken > row.capacity || row.waitlist_length,
        ),
      ).toEqual([]);
      expect(perCourse.reduce((sum, row) => sum + row.seats_taken, 0)).toBe(300);

      const maxCredits = events.filter((event) => event.reason === 'max_credits').length;
      console.log(
        `[schedule-races] credit limit race, decided ${mode}, limit ${limit} (seed ${seed}): 100 students x 5 ` +
          `four-credit courses on partitions ${partitions.join(',')} (of ${ctx.app.config.allocationPartitions}), ` +
          `2 worker processes; ` +
          `500 accepted in ${acceptMs} ms, all decided ${restMs} ms after the first was sent; the decisions ` +
          `span ${contention.spanMs} ms from first to last (${Math.round(500 / (contention.spanMs / 1000))} ` +
          `decisions/s) in ${contention.commits} commits; a student's five decisions in 5 commits for ` +
          `${contention.fiveCommits}/100, within 50 ms of each other for ${contention.within50ms}/100 (median ` +
          `spread ${contention.medianMs} ms); ${events.length - maxCredits} enrolled ` +
          `(per course ${perCourse.map((row) => row.seats_taken).join('/')}), ${maxCredits} rejected max_credits; ` +
          `every student at 12 credits; ${Date.now() - startedAt} ms`,
      );
    },
    90_000,
  );

  it('keeps guarantees 1, 2, 6 and 8 and explains every promotion by its own commit while drops, capacity raises, limit raises and overrides race', async () => {
    const startedAt = Date.now();
    await runWorkers(2);
    // Two pairs that overlap (first with second on MW, third with fourth on TR); credits 3 and 4.
    const shapes: CourseShape[] = [
      { capacity: 3, credits: 3, meetings: [{ days: 'MWF', start: '09:00', end: '09:50' }] },
      { capacity: 4, credits: 4, meetings: [{ days: 'MW', start: '09:30', end: '10:45' }] },
      { capacity: 5, credits: 3, meetings: [{ days: 'TR', start: '10:00', end: '11:15' }] },
      { capacity: 3, credits: 4, meetings: [{ days: 'TR', start: '11:00', end: '12:00' }] },
    ];
    const courseIds = await onDistinctPartitions(shapes);
    const shapeOf = new Map(courseIds.map((id, i) => [id, shapes[i]]));

    const students = Array.from({ length: 40 }, (_, i) => `${tag}-mix-${String(i).padStart(2, '0')}`);
    // Students 0..19 get their limits raised in the race, 20..39 overrides: a raise never meets an
    // excused excess (which could make it land below the load).
    const raised = new Set(students.slice(0, 20));
    const limits = new Map<string, Limits>(
      students.map((student, i) => [student, { max_credits: [3, 4, 5][i % 3], max_waitlisted: 2 + (i % 2) }]),
    );
    const limited = await inParallel(students, 8, (student) => setLimits(student, limits.get(student)!));
    expect(limited.filter((answer) => answer.status !== 200)).toEqual([]);

    let keyCounter = 0;
    const requestFor = (student: string, courseId: number) => ({
      student_id: student,
      course_id: courseId,
      idempotency_key: `${student}-${courseId}-${(keyCounter += 1)}`,
    });
    const first = shuffled(
      students.flatMap((student) =>
        shuffled(courseIds, random)
          .slice(0, 2 + Math.floor(random() * 3))
          .map((courseId) => requestFor(student, courseId)),
      ),
      random,
    );
    const firstAnswers = await Promise.all(first.map((body) => call('POST', '/enroll', body)));
    expect(firstAnswers.filter((answer) => answer.status !== 202)).toEqual([]);
    await decisionsReach(courseIds, first.length);

    // What each student holds before the race: the drops and the overrides aim at it.
    const before = await inParallel(students, 8, scheduleOf);
    const holders = before.flatMap((schedule) =>
      [...schedule.enrolled, ...schedule.waiting].map((held: any) => held.idempotency_key as string),
    );
    const blockedBefore = before.flatMap((schedule) =>
      schedule.waiting.filter((held: any) => held.blocked_reason !== null),
    ).length;
    const leaving = shuffled(holders, random).slice(0, Math.ceil(holders.length * 0.4));
    const kindsAll: OverrideKind[] = ['time_conflict', 'max_credits', 'max_waitlisted'];
    const plannedOverrides = before.slice(20).map((schedule) => {
      const waiting = schedule.waiting as Array<{ course_id: number; blocked_reason: OverrideKind | null }>;
      // Aimed at a blocked place where there is one: lifting it is what the race is about.
      const blocked = waiting.filter((held) => held.blocked_reason !== null);
      const pool = blocked.length > 0 ? blocked : waiting;
      const target = pool.length > 0 ? pool[Math.floor(random() * pool.length)] : null;
      const courseId = target?.course_id ?? courseIds[Math.floor(random() * courseIds.length)];
      const kinds = kindsAll.filter((kind) => kind === target?.blocked_reason || random() < 0.4);
      return {
        student_id: schedule.student_id as string,
        course_id: courseId,
        kinds: kinds.length > 0 ? kinds : (['max_credits'] as OverrideKind[]),
        expires_at: null,
      };
    });
    const late = Array.from({ length: 20 }, () =>
      requestFor(
        students[Math.floor(random() * students.length)],
        courseIds[Math.floor(random() * courseIds.length)],
      ),
    );
    const finalLimits = new Map(limits);
    for (const student of raised) {
      const old = limits.get(student)!;
      finalLimits.set(student, {
        max_credits: old.max_credits! + 3 + Math.floor(random() * 2),
        max_waitlisted: old.max_waitlisted! + 1,
      });
    }

    // The race: every change at once, each after a small random delay.
    interface Done {
      what: string;
      expected: number;
      answer: HttpResult;
    }
    // Drops and capacity raises come first (0..150 ms), limit raises and overrides a little later
    // (100..400 ms), so some find seats left idle beside blocked places and others race the seats' fill.
    const after = async (
      what: string,
      expected: number,
      send: () => Promise<HttpResult>,
      [from, to] = [0, 150],
    ): Promise<Done> => {
      await sleep(from + Math.floor(random() * (to - from)));
      return { what, expected, answer: await send() };
    };
    const raceStartedAt = performance.now();
    const done = (
      await Promise.all([
        ...leaving.map((key) =>
          after(`DELETE ${key}`, 200, () => call('DELETE', `/enrollments/${encodeURIComponent(key)}`)),
        ),
        ...courseIds.map(async (courseId) => {
          const capacity = shapeOf.get(courseId)!.capacity;
          const once = await after(`PATCH ${courseId} +4`, 200, () =>
            call('PATCH', `/courses/${courseId}`, { capacity: capacity + 4 }, asAdmin),
          );
          const twice = await after(`PATCH ${courseId} +10`, 200, () =>
            call('PATCH', `/courses/${courseId}`, { capacity: capacity + 10 }, asAdmin),
          );
          return [once, twice];
        }),
        ...[...raised].map((student) =>
          after(
            `PUT limits ${student}`,
            200,
            () => setLimits(student, finalLimits.get(student)!),
            [100, 400],
          ),
        ),
        ...plannedOverrides.map((override) =>
          after(
            `POST override ${override.student_id}/${override.course_id}`,
            201,
            () => call('POST', '/admin/overrides', override, asAdmin),
            [100, 400],
          ),
        ),
        ...late.map((body) =>
          after(`POST /enroll ${body.idempotency_key}`, 202, () => call('POST', '/enroll', body), [0, 300]),
        ),
      ])
    ).flat();
    const raceMs = Math.round(performance.now() - raceStartedAt);
    expect(
      done
        .filter(({ expected, answer }) => answer.status !== expected)
        .map(({ what, answer }) => `${what}: ${answer.status} ${JSON.stringify(answer.body)}`),
    ).toEqual([]);
    expect(
      done
        .filter(({ what, answer }) => what.startsWith('DELETE') && answer.body.status !== 'dropped')
        .map(({ what, answer }) => `${what}: ${answer.body.status}`),
    ).toEqual([]);

    // At rest: every request decided, every queue empty.
    await decisionsReach(courseIds, first.length + late.length);
    for (const courseId of courseIds) await queueDrained(courseId);
    const allKeys = [...first, ...late].map((body) => body.idempotency_key);

    const stored = await withDb(async (db) => {
      const courses = (
        await db.query(
          `SELECT id, capacity, seats_taken, waitlist_length, credits::float AS credits, meetings
             FROM courses WHERE id = ANY($1::int[])`,
          [courseIds],
        )
      ).rows;
      const enrollments = (
        await db.query(
          'SELECT course_id, student_id, idempotency_key FROM enrollments WHERE course_id = ANY($1::int[])',
          [courseIds],
        )
      ).rows;
      const waiting = (
        await db.query(
          `SELECT w.course_id, w.student_id, w.idempotency_key, w.position - c.waitlist_offset AS place
             FROM waitlist_entries w JOIN courses c ON c.id = w.course_id
            WHERE w.course_id = ANY($1::int[])`,
          [courseIds],
        )
      ).rows;
      const overrides = (
        await db.query(
          `SELECT student_id, course_id, kinds FROM schedule_overrides
            WHERE course_id = ANY($1::int[]) AND (expires_at IS NULL OR expires_at > now())`,
          [courseIds],
        )
      ).rows as Array<{ student_id: string; course_id: number; kinds: OverrideKind[] }>;
      const loads = (
        await db.query(
          `SELECT student_id, max_credits::float AS max_credits, max_waitlisted FROM student_loads
            WHERE student_id = ANY($1::varchar[])`,
          [students],
        )
      ).rows;
      const decisions = (
        await db.query(
          'SELECT idempotency_key AS key, status, reason FROM decisions WHERE course_id = ANY($1::int[])',
          [courseIds],
        )
      ).rows;
      return {
        courses,
        enrollments,
        waiting,
        overrides,
        loads,
        decisions,
        loadMismatches: await loadMismatches(db),
      };
    });

    // Guarantee 5 in passing: one decision row per accepted request, none other.
    expect(countBy(stored.decisions.map((row) => row.key))).toEqual(countBy(allKeys));

    // The load rows equal the truth, for every student in the database.
    expect(stored.loadMismatches).toEqual([]);
    expect(stored.loads).toHaveLength(students.length);
    expect(
      stored.loads
        .filter(
          (row) =>
            row.max_credits !== finalLimits.get(row.student_id)!.max_credits ||
            row.max_waitlisted !== finalLimits.get(row.student_id)!.max_waitlisted,
        )
        .map((row) => ({ ...row, expected: finalLimits.get(row.student_id) })),
    ).toEqual([]);

    // Guarantee 1: seats within capacity, counters equal to the rows; the API says the same.
    const courseById = new Map(stored.courses.map((row) => [row.id as number, row]));
    for (const courseId of courseIds) {
      const row = courseById.get(courseId)!;
      const seats = stored.enrollments.filter((held) => held.course_id === courseId).length;
      const waitlist = stored.waiting.filter((held) => held.course_id === courseId);
      expect({ courseId, seats_taken: row.seats_taken, waitlist_length: row.waitlist_length }).toEqual({
        courseId,
        seats_taken: seats,
        waitlist_length: waitlist.length,
      });
      expect(row.seats_taken).toBeLessThanOrEqual(row.capacity);
      expect(row.capacity).toBe(shapeOf.get(courseId)!.capacity + 10);
      // Guarantee 6 (positions): places exactly 1..N.
      expect(waitlist.map((held) => held.place).sort((a, b) => a - b)).toEqual(
        Array.from({ length: waitlist.length }, (_, i) => i + 1),
      );
      const seen = (await call('GET', `/courses/${courseId}`)).body;
      expect(seen).toMatchObject({
        capacity: row.capacity,
        seats_taken: row.seats_taken,
        seats_held: 0,
        seats_available: row.capacity - row.seats_taken,
        waitlist_length: waitlist.length,
      });
    }

    // Guarantee 2: one hold per student per course.
    const holds = countBy(
      [...stored.enrollments, ...stored.waiting].map((held) => `${held.student_id} in ${held.course_id}`),
    );
    expect(Object.entries(holds).filter(([, n]) => n > 1)).toEqual([]);

    // Guarantee 8 (and 6's blocks), judged from the rows by the contract's rules.
    const hasOverride = (student: string, courseId: number, kind: OverrideKind) =>
      stored.overrides.some(
        (row) => row.student_id === student && row.course_id === courseId && row.kinds.includes(kind),
      );
    const enrolledIn = (student: string) =>
      stored.enrollments
        .filter((held) => held.student_id === student)
        .map((held) => held.course_id as number);
    const waitingOn = (student: string) =>
      stored.waiting.filter((held) => held.student_id === student).map((held) => held.course_id as number);
    const creditsOf = (courseId: number) => courseById.get(courseId)!.credits as number;
    const meetingsOf = (courseId: number) => courseById.get(courseId)!.meetings as Meeting[];
    const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
    /** What blocks a waiting request of the student for the course now (empty: it may take a free seat). */
    const blocksOf = (student: string, courseId: number): OverrideKind[] => {
      const enrolled = enrolledIn(student).filter((id) => id !== courseId);
      const blocks: OverrideKind[] = [];
      if (
        !hasOverride(student, courseId, 'time_conflict') &&
        enrolled.some((id) => meetingsOverlap(meetingsOf(id), meetingsOf(courseId)))
      )
        blocks.push('time_conflict');
      if (
        !hasOverride(student, courseId, 'max_credits') &&
        sum(enrolled.map(creditsOf)) + creditsOf(courseId) > finalLimits.get(student)!.max_credits!
      )
        blocks.push('max_credits');
      return blocks;
    };
    const breaches: string[] = [];
    for (const student of students) {
      const limit = finalLimits.get(student)!;
      const enrolled = enrolledIn(student);
      const waiting = waitingOn(student);
      // Joining without an override needs the whole load within the limit, so what no override excused
      // stays within it (limits only rise here, overrides only arrive).
      const unexcusedCredits = sum(
        enrolled.filter((id) => !hasOverride(student, id, 'max_credits')).map(creditsOf),
      );
      if (unexcusedCredits > limit.max_credits!) {
        breaches.push(
          `${student}: ${sum(enrolled.map(creditsOf))} credits in ${enrolled.join(',')} (${unexcusedCredits} ` +
            `not excused by a max_credits override) > max_credits ${limit.max_credits}`,
        );
      }
      for (const [i, a] of enrolled.entries()) {
        for (const b of enrolled.slice(i + 1)) {
          if (
            meetingsOverlap(meetingsOf(a), meetingsOf(b)) &&
            !hasOverride(student, a, 'time_conflict') &&
            !hasOverride(student, b, 'time_conflict')
          )
            breaches.push(
              `${student}: enrolled in ${a} and ${b}, whose meetings overlap, without an override`,
            );
        }
      }
      const unexcusedWaits = waiting.filter((id) => !hasOverride(student, id, 'max_waitlisted')).length;
      if (unexcusedWaits > limit.max_waitlisted!) {
        breaches.push(
          `${student}: waits on ${waiting.join(',')} (${unexcusedWaits} not excused) > max_waitlisted ` +
            `${limit.max_waitlisted}`,
        );
      }
      for (const courseId of waiting) {
        const row = courseById.get(courseId)!;
        if (row.capacity - row.seats_taken > 0 && blocksOf(student, courseId).length === 0)
          breaches.push(`${student}: waits on ${courseId}, which has a free seat, and nothing blocks them`);
      }
    }
    expect(breaches).toEqual([]);

    // Through the API: each schedule as the rows say, each waiting request's blocked_reason as the rules say.
    const schedules = await inParallel(students, 8, scheduleOf);
    const apiMismatches = schedules.flatMap((schedule) => {
      const student = schedule.student_id as string;
      const problems: string[] = [];
      const keys = (rows: any[]) => rows.map((held) => held.idempotency_key as string).sort();
      const ofStudent = (rows: any[]) => rows.filter((held) => held.student_id === student);
      if (!isDeepEqual(keys(schedule.enrolled), keys(ofStudent(stored.enrollments))))
        problems.push(`enrolled ${keys(schedule.enrolled).join(',')}`);
      if (!isDeepEqual(keys(schedule.waiting), keys(ofStudent(stored.waiting))))
        problems.push(`waiting ${keys(schedule.waiting).join(',')}`);
      const credits = sum(enrolledIn(student).map(creditsOf));
      if (schedule.enrolled_credits !== credits)
        problems.push(`enrolled_credits ${schedule.enrolled_credits}`);
      if (schedule.waitlisted_count !== waitingOn(student).length)
        problems.push(`waitlisted_count ${schedule.waitlisted_count}`);
      const limit = finalLimits.get(student)!;
      if (schedule.max_credits !== limit.max_credits || schedule.max_waitlisted !== limit.max_waitlisted)
        problems.push(`limits ${schedule.max_credits}/${schedule.max_waitlisted}`);
      for (const held of schedule.waiting) {
        const blocks = blocksOf(student, held.course_id);
        const place = stored.waiting.find((row) => row.idempotency_key === held.idempotency_key)?.place;
        if (held.waitlist_position !== place)
          problems.push(`${held.idempotency_key} at ${held.waitlist_position}`);
        const course = courseById.get(held.course_id)!;
        if (course.capacity > course.seats_taken && held.blocked_reason === null)
          problems.push(`${held.idempotency_key} waits beside a free seat with no blocked_reason`);
        if (held.blocked_reason === null ? blocks.length > 0 : !blocks.includes(held.blocked_reason))
          problems.push(
            `${held.idempotency_key} blocked_reason ${held.blocked_reason}, rules say [${blocks}]`,
          );
      }
      return problems.length === 0 ? [] : [`${student}: ${problems.join('; ')}`];
    });
    expect(apiMismatches).toEqual([]);

    // The record: its fold is the rows' state, every request's life legal.
    const eventsOf = new Map<number, LiveEvent[]>(
      await Promise.all(courseIds.map(async (id) => [id, await courseEvents(ctx.baseUrl, id)] as const)),
    );
    const states = new Map<string, { status: string; waitlist_position: number | null }>(
      stored.decisions.map((row) => [
        row.key,
        {
          status: row.status,
          waitlist_position: stored.waiting.find((held) => held.idempotency_key === row.key)?.place ?? null,
        },
      ]),
    );
    const courseOfKey = new Map([...first, ...late].map((body) => [body.idempotency_key, body.course_id]));
    const keysOf = new Map<string, LiveEvent[]>();
    for (const [courseId, events] of eventsOf) {
      const folded = foldCourse(events);
      expect(
        [...states]
          .filter(([key]) => courseOfKey.get(key) === courseId)
          .filter(([key, state]) => !isDeepEqual(folded.get(key), state))
          .map(([key, state]) => ({ key, stored: state, folded: folded.get(key) })),
      ).toEqual([]);
      for (const event of events) {
        if (event.idempotency_key === null) continue;
        keysOf.set(event.idempotency_key, [...(keysOf.get(event.idempotency_key) ?? []), event]);
      }
    }
    expect(
      allKeys
        .map((key) => [key, lifecycleViolation(keysOf.get(key) ?? [])])
        .filter(([, violation]) => violation !== null),
    ).toEqual([]);

    // One commit, one txid: a commit's events are contiguous in each course's record, and every promotion
    // is explained by its own commit (a seat freed there or a block lifted there).
    const all = [...eventsOf.values()].flat();
    expect(all.filter((event) => !/^[0-9]+$/.test(event.txid ?? '')).map((event) => event.cursor)).toEqual(
      [],
    );
    const scattered: string[] = [];
    for (const [courseId, events] of eventsOf) {
      const closed = new Set<string>();
      events.forEach((event, i) => {
        if (closed.has(event.txid!)) scattered.push(`course ${courseId}: txid ${event.txid} resumes at ${i}`);
        if (events[i + 1]?.txid !== event.txid) closed.add(event.txid!);
      });
    }
    expect(scattered).toEqual([]);
    const freedSeat = new Set<LiveEvent>();
    for (const events of eventsOf.values()) {
      const status = new Map<string, string>();
      for (const event of events) {
        if (event.idempotency_key === null) continue;
        if (event.type === 'dropped' && status.get(event.idempotency_key) === 'enrolled')
          freedSeat.add(event);
        status.set(event.idempotency_key, event.status!);
      }
    }
    const byTxid = new Map<string, LiveEvent[]>();
    for (const event of all) byTxid.set(event.txid!, [...(byTxid.get(event.txid!) ?? []), event]);
    const overridden = new Set(
      plannedOverrides.map((override) => `${override.student_id}/${override.course_id}`),
    );
    const causes: string[] = [];
    const unexplained: string[] = [];
    for (const promoted of all.filter((event) => event.type === 'promoted')) {
      const commit = byTxid.get(promoted.txid!)!;
      const cause = commit.some(
        (event) => event.type === 'capacity_changed' && event.course_id === promoted.course_id,
      )
        ? 'capacity raise'
        : commit.some((event) => freedSeat.has(event) && event.course_id === promoted.course_id)
          ? 'drop in the course'
          : commit.some((event) => freedSeat.has(event) && event.student_id === promoted.student_id)
            ? "the student's drop elsewhere"
            : commit.every(
                  (event) => event.type === 'promoted' && event.student_id === promoted.student_id,
                ) && raised.has(promoted.student_id!)
              ? 'limit raise'
              : commit.every(
                    (event) => event.type === 'promoted' && event.student_id === promoted.student_id,
                  ) && overridden.has(`${promoted.student_id}/${promoted.course_id}`)
                ? 'override'
                : null;
      if (cause === null) {
        unexplained.push(
          `${promoted.idempotency_key} promoted in ${promoted.course_id} by txid ${promoted.txid} with ` +
            commit.map((event) => `${event.type}(${event.student_id ?? ''}@${event.course_id})`).join(', '),
        );
      } else causes.push(cause);
    }
    expect(unexplained).toEqual([]);

    const atRest = courseIds.map((id) => {
      const row = courseById.get(id)!;
      return `${row.seats_taken}/${row.capacity}+${row.waitlist_length}`;
    });
    const blockedAtRest = countBy(
      stored.waiting.flatMap((held) => blocksOf(held.student_id, held.course_id).slice(0, 1)),
    );
    const decided = countBy(
      all
        .filter((event) => ['enrolled', 'waitlisted', 'rejected'].includes(event.type))
        .map((event) => (event.reason ? `${event.type}:${event.reason}` : event.type)),
    );
    console.log(
      `[schedule-races] drops, raises, limits and overrides (seed ${seed}): 4 courses, 40 students, ` +
        `${first.length} + ${late.length} requests decided as ${JSON.stringify(decided)}; ${blockedBefore} ` +
        `blocked before the race; race of ${leaving.length} drops, ${courseIds.length * 2} capacity raises, ` +
        `${raised.size} limit raises, ${plannedOverrides.length} overrides and ${late.length} requests in ` +
        `${raceMs} ms; promotions by cause ${JSON.stringify(countBy(causes))}; at rest seats/capacity+waitlist ` +
        `${atRest.join(' ')}, blocked waiting ${JSON.stringify(blockedAtRest)}, ${all.length} events in ` +
        `${byTxid.size} commits; ${Date.now() - startedAt} ms`,
    );
  }, 90_000);
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Two tallies with the same counts, whatever order their keys came in. */
function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const sorted = (counts: Record<string, number>) =>
    Object.entries(counts).sort(([x], [y]) => x.localeCompare(y));
  return isDeepEqual(sorted(a), sorted(b));
}
