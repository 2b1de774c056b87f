import { execFile } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { partitionOf } from '../src/queue/allocation-queue.contract.js';
import { WorkerPool } from './support/child-service.js';
import { connect } from './support/db-client.js';
import { asAdmin, CLIENT_TOKEN, eventually, http, useWorld } from './support/test-app.js';
import { inParallel, randomSource, shuffled } from './support/race-kit.js';

/** A decided draw entry as the database holds it. */
interface EntryRow {
  idempotency_key: string;
  student_id: string;
  priority: number;
  status: string;
  reason: string | null;
  requested_at: Date;
  draw_rank: number | null;
  decision_seq: number;
}

/**
 * The opening draw (contract v3, Fair opening) against real processes: an API process (in this process,
 * ROLE=api) and worker processes (the built service, ROLE=worker) on the real PostgreSQL and Redis. The
 * order is recomputed here from the revealed seed with node:crypto alone, as anyone could.
 */
describe('opening draw', () => {
  const seed = Number(process.env.RACE_SEED ?? Date.now() % 1_000_000_007);
  const random = randomSource(seed);
  const tag = `od${randomBytes(3).toString('hex')}`;
  const pool = new WorkerPool(() => ({
    ...ctx.world.env,
    ROLE: 'worker',
    WORKER_CONCURRENCY: '4',
    DECISION_BATCH_MAX: '25',
  }));
  afterAll(() => pool.killAll());
  const ctx = useWorld({ env: { ALLOCATION_PARTITIONS: '4' }, appEnv: { ROLE: 'api' } });
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    http(ctx.baseUrl, method, path, body, headers);

  let counter = 0;
  /** A course with these fields; resolves with its id (and the partition it landed on). */
  async function createCourse(fields: Record<string, unknown>): Promise<number> {
    counter += 1;
    const code = `${tag}-${counter}`;
    const created = await call('POST', '/courses', { code, title: code, ...fields }, asAdmin);
    expect(created.status).toBe(201);
    return created.body.id as number;
  }

  async function withDb<T>(work: (db: pg.Client) => Promise<T>): Promise<T> {
    const db = await connect(ctx.world.database.url);
    try {
      return await work(db);
    } finally {
      await db.end();
    }
  }

  const decidedIn = (db: pg.Client, courseIds: readonly number[]) =>
    db
      .query('SELECT count(*)::int AS n FROM decisions WHERE course_id = ANY($1::int[])', [courseIds])
      .then(({ rows }) => rows[0].n as number);

  const allDecided = (keys: readonly string[], timeoutMs = 90_000) =>
    withDb((db) =>
      eventually(
        async () => {
          const { rows } = await db.query(
            'SELECT count(*)::int AS n FROM decisions WHERE idempotency_key = ANY($1::varchar[])',
            [keys],
          );
          return rows[0].n === keys.length ? true : undefined;
        },
        timeoutMs,
        `${keys.length} decisions`,
      ),
    );

  const entriesOf = (courseId: number): Promise<EntryRow[]> =>
    withDb(async (db) => {
      const { rows } = await db.query(
        `SELECT idempotency_key, student_id, priority, status, reason, requested_at, draw_rank, decision_seq,
                decided_as
           FROM decisions WHERE course_id = $1 AND draw_rank IS NOT NULL ORDER BY draw_rank`,
        [courseId],
      );
      return rows.map((row) => ({ ...row, status: row.decided_as }));
    });

  /** The contract's order, recomputed with node:crypto alone from the revealed seed. */
  const recomputed = (drawSeed: string, courseId: number, entries: readonly EntryRow[]) => {
    const ticket = (student: string) =>
      createHmac('sha256', drawSeed).update(`${courseId}:${student}`).digest('hex');
    return [...entries]
      .sort(
        (a, b) =>
          b.priority - a.priority ||
          ticket(a.student_id).localeCompare(ticket(b.student_id)) ||
          a.requested_at.getTime() - b.requested_at.getTime() ||
          a.draw_rank! - b.draw_rank!,
      )
      .map((entry) => entry.idempotency_key);
  };

  /** The draw as published, checked against its hash and against the entries' ranks and decisions. */
  async function verifiedDraw(courseId: number, publishedHash: string): Promise<EntryRow[]> {
    const draw = (await call('GET', `/courses/${courseId}/draw`)).body;
    expect(draw.state).toBe('drawn');
    expect(draw.seed_sha256).toBe(publishedHash);
    expect(createHash('sha256').update(draw.seed).digest('hex')).toBe(publishedHash);
    const entries = await entriesOf(courseId);
    expect(draw.entries).toBe(entries.length);
    expect(draw.order).toEqual(entries.map((entry) => entry.idempotency_key));
    expect(entries.map((entry) => entry.draw_rank)).toEqual(entries.map((_, index) => index + 1));
    expect(recomputed(draw.seed, courseId, entries)).toEqual(draw.order);
    // Decided in draw order: each entry's decision is later in the record than the one before it.
    const seqs = entries.map((entry) => entry.decision_seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    return entries;
  }

  it('refuses bad draw settings naming the field, and publishes the seed hash from the start', async () => {
    const opensAt = new Date(Date.now() + 3_600_000).toISOString();
    for (const [fields, named] of [
      [{ draw_window_s: 60 }, 'draw_window_s needs opens_at'],
      [{ opens_at: opensAt, prequeue_s: 60 }, 'prequeue_s needs draw_window_s > 0'],
      [{ opens_at: opensAt, draw_window_s: 3601 }, 'draw_window_s'],
      [{ opens_at: opensAt, draw_window_s: -1 }, 'draw_window_s'],
      [{ opens_at: opensAt, draw_window_s: 1.5 }, 'draw_window_s'],
      [{ opens_at: opensAt, draw_window_s: '60' }, 'draw_window_s'],
      [{ opens_at: opensAt, draw_window_s: null }, 'draw_window_s'],
      [{ opens_at: opensAt, draw_window_s: 60, prequeue_s: 86401 }, 'prequeue_s'],
    ] as Array<[Record<string, unknown>, string]>) {
      counter += 1;
      const answer = await call(
        'POST',
        '/courses',
        { code: `${tag}-bad${counter}`, title: 'x', capacity: 1, ...fields },
        asAdmin,
      );
      expect({ fields, status: answer.status }).toEqual({ fields, status: 400 });
      expect(answer.body.message).toContain(named);
    }
    expect((await call('GET', '/courses/abc/draw')).status).toBe(400);
    expect((await call('GET', '/courses/2147483000/draw')).status).toBe(404);

    const plain = await createCourse({ capacity: 1 });
    expect((await call('GET', `/courses/${plain}/draw`)).body).toEqual({
      course_id: plain,
      state: 'none',
      starts_at: null,
      ends_at: null,
      seed_sha256: null,
      seed: null,
      entries: null,
      order: null,
    });
    const id = await createCourse({ capacity: 5, opens_at: opensAt, draw_window_s: 120, prequeue_s: 600 });
    const scheduled = (await call('GET', `/courses/${id}/draw`)).body;
    expect(scheduled).toMatchObject({
      state: 'scheduled',
      starts_at: new Date(Date.parse(opensAt) - 600_000).toISOString(),
      ends_at: new Date(Date.parse(opensAt) + 120_000).toISOString(),
      seed: null,
      entries: null,
      order: null,
    });
    expect(scheduled.seed_sha256).toMatch(/^[0-9a-f]{64}$/);
    // A change that is no draw change keeps the seed; a draw change before the period draws a new one.
    expect((await call('PATCH', `/courses/${id}`, { title: 'renamed' }, asAdmin)).status).toBe(200);
    expect((await call('GET', `/courses/${id}/draw`)).body.seed_sha256).toBe(scheduled.seed_sha256);
    const changed = await call('PATCH', `/courses/${id}`, { draw_window_s: 60 }, asAdmin);
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ draw_window_s: 60, prequeue_s: 600 });
    expect((await call('GET', `/courses/${id}/draw`)).body.seed_sha256).not.toBe(scheduled.seed_sha256);
    // Removing the opening of a draw course names the field.
    const noOpening = await call('PATCH', `/courses/${id}`, { opens_at: null }, asAdmin);
    expect(noOpening.status).toBe(400);
    expect(noOpening.body.message).toContain('draw_window_s needs opens_at');
    // A period that begins within the API processes' course cache (5 s) is refused.
    const soon = await call(
      'PATCH',
      `/courses/${id}`,
      { opens_at: new Date(Date.now() + 2000).toISOString(), prequeue_s: 0 },
      asAdmin,
    );
    expect(soon.status).toBe(409);
    expect(soon.body.message).toMatch(/draw period would begin at/);

    // Once the period has begun, draw_window_s, prequeue_s and opens_at are settled.
    const running = await createCourse({
      capacity: 5,
      opens_at: new Date(Date.now() + 60_000).toISOString(),
      draw_window_s: 60,
      prequeue_s: 120,
    });
    for (const change of [{ draw_window_s: 30 }, { prequeue_s: 0 }, { opens_at: opensAt }]) {
      const refused = await call('PATCH', `/courses/${running}`, change, asAdmin);
      expect({ change, status: refused.status }).toEqual({ change, status: 409 });
      expect(refused.body.message).toMatch(/draw period begins at .* can no longer change/);
    }
    expect((await call('PATCH', `/courses/${running}`, { capacity: 9 }, asAdmin)).status).toBe(200);
    expect((await call('GET', `/courses/${running}/draw`)).body.state).toBe('open');
  });

  it('two workers, many courses: no entry is decided before its period ends, then all in draw order; the bots get their share', async () => {
    await pool.scaleTo(2);
    const partitions = ctx.app.config.allocationPartitions;
    const capacity = 10;
    const windowS = 4;
    const opensAt = new Date(Math.ceil((Date.now() + 3000) / 1000) * 1000);
    const endsAt = new Date(opensAt.getTime() + windowS * 1000);
    const draws: number[] = [];
    while (draws.length < 4) {
      draws.push(
        await createCourse({
          capacity,
          opens_at: opensAt.toISOString(),
          draw_window_s: windowS,
          prequeue_s: 5,
        }),
      );
    }
    // A plain course on the partition of the first draw: its requests are decided during the period.
    let plain: number;
    do plain = await createCourse({ capacity: 100 });
    while (partitionOf(plain, partitions) !== partitionOf(draws[0], partitions));
    const hashes = new Map<number, string>();
    for (const id of draws) hashes.set(id, (await call('GET', `/courses/${id}/draw`)).body.seed_sha256);
    expect((await call('GET', `/courses/${draws[0]}/draw`)).body.state).toBe('open');

    // Bots send first, three keys each per course; then the honest students, some with priority.
    const bots = Array.from({ length: 10 }, (_, index) => `${tag}-bot${index}`);
    const honest = Array.from({ length: 60 }, (_, index) => `${tag}-s${index}`);
    const botBodies = draws.flatMap((course) =>
      bots.flatMap((student) =>
        [1, 2, 3].map((copy) => ({
          student_id: student,
          course_id: course,
          idempotency_key: `${student}-${course}-k${copy}`,
        })),
      ),
    );
    const honestBodies = shuffled(
      draws.flatMap((course) =>
        honest.map((student, index) => ({
          student_id: student,
          course_id: course,
          priority: index < 6 ? 1 : 0,
          idempotency_key: `${student}-${course}`,
        })),
      ),
      random,
    );
    const botAnswers = await inParallel(botBodies, 40, (body) => call('POST', '/enroll', body));
    const plainKeys = Array.from({ length: 20 }, (_, index) => `${tag}-plain${index}`);
    const [honestAnswers, plainAnswers] = await Promise.all([
      inParallel(honestBodies, 24, (body) => call('POST', '/enroll', body)),
      inParallel(plainKeys, 8, (key, index) =>
        call('POST', '/enroll', { student_id: `${tag}-p${index}`, course_id: plain, idempotency_key: key }),
      ),
    ]);
    expect([...botAnswers, ...honestAnswers, ...plainAnswers].map((answer) => answer.status)).toEqual(
      [...botAnswers, ...honestAnswers, ...plainAnswers].map(() => 202),
    );
    expect(Date.now()).toBeLessThan(endsAt.getTime()); // every one of them is a draw entry
    await allDecided(plainKeys); // the plain course is not held up by the draws on its partition
    // While the period runs, no worker decides an entry.
    await withDb(async (db) => {
      while (Date.now() < endsAt.getTime() - 100) {
        expect(await decidedIn(db, draws)).toBe(0);
        await sleep(100);
      }
    });
    // Requests after the period follow the draw.
    await sleep(Math.max(0, endsAt.getTime() - Date.now()));
    const later = draws.map((course, index) => ({
      student_id: `${tag}-late${index}`,
      course_id: course,
      idempotency_key: `${tag}-late-${course}`,
      priority: 100,
    }));
    for (const body of later) expect((await call('POST', '/enroll', body)).status).toBe(202);
    await allDecided([...botBodies, ...honestBodies, ...later].map((body) => body.idempotency_key));

    let botSeats = 0;
    for (const course of draws) {
      const entries = await verifiedDraw(course, hashes.get(course)!);
      expect(entries).toHaveLength(bots.length * 3 + honest.length);
      // Priority first: the six priority-1 students hold the first six places.
      expect(entries.slice(0, 6).every((entry) => entry.priority === 1)).toBe(true);
      const enrolled = entries.filter((entry) => entry.status === 'enrolled');
      expect(enrolled).toHaveLength(capacity);
      // The seats went to the first students in draw order (a student's later keys hold nothing).
      const firstKeys = entries.filter(
        (entry, index) => entries.findIndex((other) => other.student_id === entry.student_id) === index,
      );
      expect(firstKeys.slice(0, capacity).map((entry) => entry.status)).toEqual(
        Array.from({ length: capacity }, () => 'enrolled'),
      );
      botSeats += enrolled.filter((entry) => entry.student_id.includes('-bot')).length;
      // A bot's extra keys fall right behind its first and end already_*.
      for (const bot of bots) {
        const keys = entries.filter((entry) => entry.student_id === bot);
        expect(keys.map((entry) => entry.draw_rank! - keys[0].draw_rank!)).toEqual([0, 1, 2]);
        expect(keys.slice(1).map((entry) => entry.reason)).toEqual(
          keys
            .slice(1)
            .map(() => (keys[0].status === 'enrolled' ? 'already_enrolled' : 'already_waitlisted')),
        );
      }
      // The request after the period, priority 100, comes after every entry.
      const { rows } = await withDb((db) =>
        db.query('SELECT decision_seq, draw_rank FROM decisions WHERE idempotency_key = $1', [
          `${tag}-late-${course}`,
        ]),
      );
      expect(rows[0].draw_rank).toBeNull();
      expect(rows[0].decision_seq).toBeGreaterThan(Math.max(...entries.map((entry) => entry.decision_seq)));
      const events = (await call('GET', `/courses/${course}/events?limit=1000`, undefined, asAdmin)).body
        .events;
      const drawn = events.filter((event: { type: string }) => event.type === 'drawn');
      expect(drawn).toHaveLength(1);
      expect(drawn[0]).toMatchObject({ entries: entries.length, course_id: course });
      expect(createHash('sha256').update(drawn[0].seed).digest('hex')).toBe(hashes.get(course));
      // The drawn event precedes every decision of the draw.
      expect(Number(drawn[0].cursor)).toBeLessThan(entries[0].decision_seq);
    }
    // Anyone's check from outside: npm run verify-draw agrees on a real draw.
    // (Run asynchronously: the API answering it runs in this process.)
    const verify = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) =>
      execFile(
        process.execPath,
        ['scripts/verify-draw.mjs', ctx.baseUrl, String(draws[0])],
        { env: { ...process.env, CLIENT_TOKEN } },
        (error, stdout, stderr) => done({ status: error ? (error.code as number) : 0, stdout, stderr }),
      ),
    );
    expect({ status: verify.status, stderr: verify.stderr }).toEqual({ status: 0, stderr: '' });
    expect(verify.stdout).toContain(`the draw of course ${draws[0]} is verified`);
    // Under first come, first served the bots (who sent first) would hold all 40 seats; drawn, they hold
    // about capacity ÷ students of them: 10 of 70 students, so about 5.7 of 40.
    const share = botSeats / (capacity * draws.length);
    console.log(
      `bots: ${botSeats} of ${capacity * draws.length} seats (${(share * 100).toFixed(0)}%; first come ` +
        `first served: 100%; fair share ${((bots.length / (bots.length + honest.length)) * 100).toFixed(0)}%)`,
    );
    expect(share).toBeLessThan(0.5);
  });

  it('kill -9 of the workers during the period and during the draw: the same order, every entry decided once', async () => {
    const opensAt = new Date(Math.ceil((Date.now() + 2500) / 1000) * 1000);
    const windowS = 4;
    const endsAt = opensAt.getTime() + windowS * 1000;
    const course = await createCourse({
      capacity: 50,
      opens_at: opensAt.toISOString(),
      draw_window_s: windowS,
      prequeue_s: 5,
    });
    const hash = (await call('GET', `/courses/${course}/draw`)).body.seed_sha256;
    await pool.scaleTo(2);
    const bodies = Array.from({ length: 400 }, (_, index) => ({
      student_id: `${tag}-k${index}`,
      course_id: course,
      priority: index % 7 === 0 ? 1 : 0,
      idempotency_key: `${tag}-kill-${index}`,
    }));
    const answers = await inParallel(bodies, 32, (body) => call('POST', '/enroll', body));
    expect(answers.filter((answer) => answer.status !== 202).map((answer) => answer.body)).toEqual([]);
    expect(Date.now()).toBeLessThan(endsAt);
    // A withdrawn entry is cancelled and takes no part.
    const withdrawn = await call('DELETE', `/enrollments/${bodies[5].idempotency_key}`);
    expect(withdrawn.body.status).toBe('cancelled');
    await pool.killAll(); // during the period
    await pool.scaleTo(2);
    // During the draw: as soon as it is made and some entries decided, kill the workers again.
    await withDb((db) =>
      eventually(async () => {
        const { rows } = await db.query(
          'SELECT count(*)::int AS n FROM decisions WHERE course_id = $1 AND draw_rank IS NOT NULL',
          [course],
        );
        return rows[0].n > 0 ? true : undefined;
      }, 30_000),
    );
    const orderBefore = (await call('GET', `/courses/${course}/draw`)).body.order as string[];
    await pool.killAll();
    const partly = await withDb((db) => decidedIn(db, [course]));
    console.log(`killed mid-draw with ${partly - 1} of ${bodies.length - 1} entries decided`);
    await pool.scaleTo(2);
    await allDecided(bodies.map((body) => body.idempotency_key));
    const entries = await verifiedDraw(course, hash);
    expect(entries.map((entry) => entry.idempotency_key)).toEqual(orderBefore);
    expect(orderBefore).not.toContain(bodies[5].idempotency_key);
    expect(entries).toHaveLength(bodies.length - 1);
    expect(entries.filter((entry) => entry.status === 'enrolled')).toHaveLength(50);
    await pool.scaleTo(0);
  });
});
