import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { LiveEvent } from '../scripts/kit.mjs';
import { partitionOf } from '../src/queue/allocation-queue.contract.js';
import { WorkerPool } from './support/child-service.js';
import { connect } from './support/db-client.js';
import { asAdmin, courseEvents, eventually, http, useWorld } from './support/test-app.js';
import { inParallel, randomSource, shuffled } from './support/race-kit.js';

/** A student's swap: A asks for a seat, B is what they give up for it. */
interface Swap {
  student: string;
  a: string;
  aCourse: number;
  b: string;
  bCourse: number;
}

/**
 * Swaps under real races (docs/guarantees.md, Swap): an API process (in this process, ROLE=api) and two
 * worker processes (the built service, ROLE=worker) on the real PostgreSQL and Redis, the courses of a
 * swap on different partitions, so two workers lock the same pairs of courses at once. "Never both, never
 * neither" is checked on the event record, commit by commit (events of one commit share a txid).
 */
describe('swap races', () => {
  const seed = Number(process.env.RACE_SEED ?? Date.now() % 1_000_000_007);
  const random = randomSource(seed);
  const tag = `wr${randomBytes(3).toString('hex')}`;
  const pool = new WorkerPool(() => ({ ...ctx.world.env, ROLE: 'worker', WORKER_CONCURRENCY: '4' }));
  afterAll(() => pool.killAll());
  const ctx = useWorld({ env: { ALLOCATION_PARTITIONS: '4' }, appEnv: { ROLE: 'api' } });

  const runWorkers = (count: number) => pool.scaleTo(count);

  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    http(ctx.baseUrl, method, path, body, headers);
  let counter = 0;
  async function createCourse(capacity: number, avoid: readonly number[] = []): Promise<number> {
    const partitions = ctx.app.config.allocationPartitions;
    for (;;) {
      counter += 1;
      const code = `${tag}-${counter}`;
      const created = await call('POST', '/courses', { code, title: code, capacity }, asAdmin);
      expect(created.status).toBe(201);
      const id = created.body.id as number;
      if (!avoid.some((other) => partitionOf(other, partitions) === partitionOf(id, partitions))) return id;
    }
  }

  async function withDb<T>(work: (db: pg.Client) => Promise<T>): Promise<T> {
    const db = await connect(ctx.world.database.url);
    try {
      return await work(db);
    } finally {
      await db.end();
    }
  }

  /** Sends requests (all must be accepted) and waits until every one is decided. */
  async function sendAll(bodies: Array<Record<string, unknown>>): Promise<void> {
    const answers = await inParallel(bodies, 24, (body) => call('POST', '/enroll', body));
    expect(answers.filter((answer) => answer.status !== 202).map((answer) => answer.body)).toEqual([]);
    await allDecided(bodies.map((body) => body.idempotency_key as string));
  }

  const allDecided = (keys: readonly string[]) =>
    withDb((db) =>
      eventually(
        async () => {
          const { rows } = await db.query(
            'SELECT count(*)::int AS n FROM decisions WHERE idempotency_key = ANY($1::varchar[])',
            [keys],
          );
          return rows[0].n === keys.length ? true : undefined;
        },
        90_000,
        `${keys.length} decisions`,
      ),
    );

  async function holdersOf(
    courseId: number,
    count: number,
  ): Promise<Array<{ student: string; key: string }>> {
    const holders = Array.from({ length: count }, (_, index) => ({
      student: `${tag}-h${courseId}-${index}`,
      key: `${tag}-hold-${courseId}-${index}`,
    }));
    await sendAll(
      holders.map((h) => ({ student_id: h.student, course_id: courseId, idempotency_key: h.key })),
    );
    return holders;
  }

  const statusOf = (db: pg.Client, keys: readonly string[]) =>
    db
      .query(
        'SELECT idempotency_key, status, reason FROM decisions WHERE idempotency_key = ANY($1::varchar[])',
        [keys],
      )
      .then(({ rows }) => new Map(rows.map((row) => [row.idempotency_key as string, row])));

  /**
   * Never both, never neither, commit by commit: A's enrollment (its decision or its promotion) and B's
   * drop (reason swapped) are written by one transaction, or neither is; and no other event takes B away.
   */
  function checkCommits(swaps: readonly Swap[], events: readonly LiveEvent[]): string[] {
    const problems: string[] = [];
    const byKey = new Map<string, LiveEvent[]>();
    for (const event of events) {
      if (!event.idempotency_key) continue;
      byKey.set(event.idempotency_key, [...(byKey.get(event.idempotency_key) ?? []), event]);
    }
    for (const swap of swaps) {
      const seated = (byKey.get(swap.a) ?? []).filter(
        (event) => event.type === 'promoted' || event.type === 'enrolled',
      );
      const dropped = (byKey.get(swap.b) ?? []).filter((event) => event.type === 'dropped');
      if (seated.length > 1 || dropped.length > 1) problems.push(`${swap.student}: seated or dropped twice`);
      if (seated.length !== dropped.length) {
        problems.push(
          `${swap.student}: A seated ${seated.length}×, B dropped ${dropped.length}× (both or neither)`,
        );
      } else if (seated.length === 1) {
        if (seated[0].txid !== dropped[0].txid)
          problems.push(`${swap.student}: A and B changed in different commits`);
        if (dropped[0].reason !== 'swapped')
          problems.push(`${swap.student}: B dropped without reason swapped`);
      }
    }
    return problems;
  }

  /** At rest: capacity, guarantee 6 (no free seat beside a waitlist: nobody here is ever blocked), positions. */
  async function checkAtRest(courseIds: readonly number[]): Promise<void> {
    await withDb(async (db) => {
      const { rows } = await db.query(
        `SELECT c.id, c.capacity, c.seats_taken, c.waitlist_length,
                (SELECT count(*)::int FROM enrollments e WHERE e.course_id = c.id) AS enrolled,
                (SELECT count(*)::int FROM waitlist_entries w WHERE w.course_id = c.id) AS waiting,
                (SELECT coalesce(array_agg(w.position - c.waitlist_offset ORDER BY w.position), '{}')
                   FROM waitlist_entries w WHERE w.course_id = c.id) AS places
           FROM courses c WHERE c.id = ANY($1::int[])`,
        [courseIds],
      );
      for (const row of rows) {
        expect(row.seats_taken).toBe(row.enrolled);
        expect(row.seats_taken).toBeLessThanOrEqual(row.capacity);
        expect(row.waitlist_length).toBe(row.waiting);
        if (row.waiting > 0) expect([row.id, row.seats_taken]).toEqual([row.id, row.capacity]);
        expect(row.places).toEqual(Array.from({ length: row.waiting }, (_, index) => index + 1));
      }
    });
  }

  async function recordOf(courseIds: readonly number[]): Promise<LiveEvent[]> {
    return (await Promise.all(courseIds.map((id) => courseEvents(ctx.baseUrl, id)))).flat();
  }

  /**
   * 30 students each hold their own B_i and wait to swap into a full course A, while A's holders drop and
   * A's capacity grows, all at once; optionally a worker is killed (SIGKILL) in the middle and replaced.
   */
  async function waitingSwapRun(killAWorker: boolean): Promise<{ swapped: number; ms: number }> {
    await runWorkers(2);
    const a = await createCourse(10);
    const holders = await holdersOf(a, 10);
    const swaps: Swap[] = [];
    for (let index = 0; index < 30; index += 1) {
      const bCourse = await createCourse(1, [a]);
      const student = `${tag}-s${a}-${index}`;
      swaps.push({ student, a: `${tag}-a-${a}-${index}`, aCourse: a, b: `${tag}-b-${a}-${index}`, bCourse });
    }
    await sendAll(swaps.map((s) => ({ student_id: s.student, course_id: s.bCourse, idempotency_key: s.b })));
    const started = Date.now();
    const swapBodies = swaps.map((s) => ({
      student_id: s.student,
      course_id: s.aCourse,
      idempotency_key: s.a,
      swap_for: s.b,
    }));
    const killer = killAWorker
      ? (async () => {
          await new Promise((resolve) => setTimeout(resolve, 150 + random() * 200));
          await pool.killOne();
          await runWorkers(2);
        })()
      : Promise.resolve();
    const churn = shuffled(
      [
        ...holders.map((h) => () => call('DELETE', `/enrollments/${encodeURIComponent(h.key)}`)),
        () => call('PATCH', `/courses/${a}`, { capacity: 20 }, asAdmin),
      ],
      random,
    );
    const [answers] = await Promise.all([
      inParallel(swapBodies, 16, (body) => call('POST', '/enroll', body)),
      inParallel(churn, 4, (change) => change()),
      killer,
    ]);
    expect(answers.filter((answer) => answer.status !== 202).map((answer) => answer.body)).toEqual([]);
    await allDecided(swaps.map((s) => s.a));
    const ms = Date.now() - started;
    const courseIds = [a, ...swaps.map((s) => s.bCourse)];
    await checkAtRest(courseIds);
    expect(checkCommits(swaps, await recordOf(courseIds))).toEqual([]);
    // Capacity 20 and every holder gone: all 30 hold A (20) or B plus a waiting place for A (10).
    const states = await withDb((db) =>
      statusOf(
        db,
        swaps.flatMap((s) => [s.a, s.b]),
      ),
    );
    let swapped = 0;
    for (const s of swaps) {
      const pair = [states.get(s.a)?.status, states.get(s.b)?.status];
      expect([
        ['enrolled', 'dropped'],
        ['waitlisted', 'enrolled'],
      ]).toContainEqual(pair);
      if (pair[0] === 'enrolled') swapped += 1;
    }
    expect(swapped).toBe(20);
    return { swapped, ms };
  }

  it(`(seed ${seed}) waiting swaps into a full course while its holders drop: never both, never neither`, async () => {
    const run = await waitingSwapRun(false);
    console.log(`swap race: ${run.swapped} of 30 swapped into the full course in ${run.ms} ms, two workers`);
  }, 240_000);

  it(`(seed ${seed}) crossing swaps on two workers all finish, with nothing lost and no deadlock left`, async () => {
    await runWorkers(2);
    const x = await createCourse(20);
    const y = await createCourse(20, [x]);
    const inX = await holdersOf(x, 15);
    const inY = await holdersOf(y, 15);
    const swaps: Swap[] = [
      ...inX.map((h, index) => ({
        student: h.student,
        a: `${tag}-xy-${index}`,
        aCourse: y,
        b: h.key,
        bCourse: x,
      })),
      ...inY.map((h, index) => ({
        student: h.student,
        a: `${tag}-yx-${index}`,
        aCourse: x,
        b: h.key,
        bCourse: y,
      })),
    ];
    const started = Date.now();
    await sendAll(
      shuffled(swaps, random).map((s) => ({
        student_id: s.student,
        course_id: s.aCourse,
        idempotency_key: s.a,
        swap_for: s.b,
      })),
    );
    const ms = Date.now() - started;
    await checkAtRest([x, y]);
    expect(checkCommits(swaps, await recordOf([x, y]))).toEqual([]);
    const states = await withDb((db) =>
      statusOf(
        db,
        swaps.flatMap((s) => [s.a, s.b]),
      ),
    );
    // Seats were free on both sides from the start, so every swap goes through.
    expect(swaps.filter((s) => states.get(s.a)?.status !== 'enrolled').map((s) => s.student)).toEqual([]);
    expect(swaps.every((s) => states.get(s.b)?.reason === 'swapped')).toBe(true);
    const stuck = await withDb((db) =>
      db.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`).then(({ rows }) => rows[0].n),
    );
    expect(stuck).toBe(0);
    console.log(`crossing swaps: 30 of 30 swapped across two courses in ${ms} ms, two workers`);
  }, 240_000);

  it(`(seed ${seed}) a worker killed (SIGKILL) in the middle of the waiting swaps loses nothing`, async () => {
    const run = await waitingSwapRun(true);
    console.log(`swap race with kill -9: ${run.swapped} of 30 swapped in ${run.ms} ms`);
  }, 240_000);
});
