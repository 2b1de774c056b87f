import type pg from 'pg';
import { WorkerPool } from './support/child-service.js';
import { connect } from './support/db-client.js';
import {
  apiCalls,
  asAdmin,
  courseEvents,
  eventually,
  newRequest,
  useWorld,
  waitForDecision,
} from './support/test-app.js';

/** Waitlist offers through HTTP, as docs/guarantees.md (Offers) says: a held seat, an offer that ends once. */
describe('offers', () => {
  const pool = new WorkerPool(() => ({ ...ctx.world.env, ROLE: 'worker', WORKER_CONCURRENCY: '4' }));
  afterAll(() => pool.killAll());
  const ctx = useWorld();
  const { call, request, course, drop, student, newCourse } = apiCalls(ctx, 'off');
  let db: pg.Client;
  beforeAll(async () => {
    db = await connect(ctx.world.database.url);
    db.on('error', () => undefined); // the world's database is dropped when the world ends
  });
  afterAll(async () => {
    await db.end();
  });

  const offerCourse = async (capacity: number, fields: Record<string, unknown> = {}) => {
    const id = await newCourse(capacity);
    const patched = await call('PATCH', `/courses/${id}`, { waitlist_mode: 'offer', ...fields }, asAdmin);
    expect(patched.status).toBe(200);
    return id;
  };
  async function enroll(studentId: string, courseId: number, swapFor?: string) {
    const body = newRequest(courseId, { student_id: studentId, ...(swapFor ? { swap_for: swapFor } : {}) });
    expect((await call('POST', '/enroll', body)).status).toBe(202);
    const decided = await waitForDecision(ctx.baseUrl, body.idempotency_key);
    return { key: body.idempotency_key, ...decided.body };
  }
  const accept = (key: string) => call('POST', `/enrollments/${encodeURIComponent(key)}/accept`);
  /** Moves an offer's deadline (the tests cannot wait the 60 s an offer stands at least). */
  const deadlineIn = (key: string, ms: number) =>
    db.query(
      `UPDATE decisions SET offer_expires_at = clock_timestamp() + make_interval(secs => $2::float8 / 1000)
        WHERE idempotency_key = $1 AND status = 'offered'`,
      [key, ms],
    );
  const txidOf = async (courseId: number, key: string, type: string) =>
    (await courseEvents(ctx.baseUrl, courseId)).find((e) => e.idempotency_key === key && e.type === type)
      ?.txid;

  it('holds a freed seat for the first waiting request; a newcomer never takes it; accept enrolls once', async () => {
    const id = await offerCourse(1, { offer_ttl_s: 3600 });
    const holder = await enroll(student(), id);
    const first = await enroll(student(), id);
    const second = await enroll(student(), id);
    const before = Date.now();
    expect((await drop(holder.key)).body.status).toBe('dropped');
    const offered = await request(first.key);
    expect(offered).toMatchObject({ status: 'offered', waitlist_position: null });
    const deadline = Date.parse(offered.offer_expires_at);
    expect(deadline).toBeGreaterThan(before + 3590_000);
    expect(deadline).toBeLessThan(Date.now() + 3610_000);
    expect(await request(second.key)).toMatchObject({ status: 'waitlisted', waitlist_position: 1 });
    expect(await course(id)).toMatchObject({
      seats_taken: 0,
      seats_held: 1,
      seats_available: 0,
      waitlist_length: 1,
    });
    expect(await txidOf(id, first.key, 'offered')).toBe(await txidOf(id, holder.key, 'dropped'));
    const newcomer = await enroll(student(), id);
    expect(newcomer).toMatchObject({ status: 'waitlisted', waitlist_position: 2 });
    // An offered seat is the student's one place in the course (guarantee 2).
    expect(await enroll(first.student_id, id)).toMatchObject({
      status: 'rejected',
      reason: 'already_waitlisted',
    });

    const accepted = await accept(first.key);
    expect([accepted.status, accepted.body.status, accepted.body.offer_expires_at]).toEqual([
      200,
      'enrolled',
      null,
    ]);
    expect((await accept(first.key)).body).toMatchObject({ status: 'enrolled' });
    expect(await course(id)).toMatchObject({ seats_taken: 1, seats_held: 0, seats_available: 0 });
    const events = (await courseEvents(ctx.baseUrl, id)).filter((e) => e.idempotency_key === first.key);
    expect(events.map((e) => e.type)).toEqual(['waitlisted', 'offered', 'promoted']);
  });

  it('a decline hands the seat to the next in the same transaction', async () => {
    const id = await offerCourse(1);
    const holder = await enroll(student(), id);
    const first = await enroll(student(), id);
    const second = await enroll(student(), id);
    await drop(holder.key);
    const declined = await drop(first.key);
    expect(declined.body).toMatchObject({ status: 'dropped', reason: 'declined', offer_expires_at: null });
    expect(await request(second.key)).toMatchObject({ status: 'offered' });
    expect(await txidOf(id, second.key, 'offered')).toBe(await txidOf(id, first.key, 'dropped'));
    expect(await course(id)).toMatchObject({ seats_held: 1, seats_taken: 0, waitlist_length: 0 });
  });

  it('the deadline decides an accept, and the sweep expires the offer within 5 s, offering the seat on', async () => {
    const id = await offerCourse(1);
    const holder = await enroll(student(), id);
    const first = await enroll(student(), id);
    const second = await enroll(student(), id);
    await drop(holder.key);
    await deadlineIn(first.key, -1);
    const late = await accept(first.key);
    expect([late.status, late.body.message]).toEqual([409, expect.stringContaining('expired')]);
    const expired = await eventually(async () => {
      const found = await request(first.key);
      return found.status === 'dropped' ? found : undefined;
    }, 6000);
    expect(expired).toMatchObject({ reason: 'offer_expired' });
    expect(await request(second.key)).toMatchObject({ status: 'offered' });
    expect(await txidOf(id, first.key, 'offer_expired')).toBe(await txidOf(id, second.key, 'offered'));
    const metrics = await (await fetch(`${ctx.baseUrl}/metrics`, { headers: asAdmin })).text();
    expect(metrics).toMatch(/courseflow_offer_expiry_lag_seconds_count [1-9]/);
  });

  it('answers every bad input with its 4xx, changing nothing', async () => {
    const id = await offerCourse(1);
    const holder = await enroll(student(), id);
    const waiting = await enroll(student(), id);
    expect((await accept('no-such-key')).status).toBe(404);
    const notOffered = await accept(waiting.key);
    expect([notOffered.status, notOffered.body.message]).toEqual([
      409,
      expect.stringContaining('waitlisted'),
    ]);
    expect((await accept(holder.key)).status).toBe(200); // enrolled already: the same state
    for (const [fields, field] of [
      [{ waitlist_mode: 'bogus' }, 'waitlist_mode'],
      [{ offer_ttl_s: 59 }, 'offer_ttl_s'],
      [{ offer_ttl_s: 604801 }, 'offer_ttl_s'],
      [{ offer_ttl_s: 90.5 }, 'offer_ttl_s'],
      [{ seats_held: 1 }, 'seats_held'],
    ] as const) {
      const answer = await call('PATCH', `/courses/${id}`, fields, asAdmin);
      expect([answer.status, answer.body.message]).toEqual([400, expect.stringContaining(field)]);
    }
    await drop(holder.key);
    expect(await course(id)).toMatchObject({ seats_held: 1, capacity: 1 });
    const below = await call('PATCH', `/courses/${id}`, { capacity: 0 }, asAdmin);
    expect([below.status, below.body.message]).toEqual([409, expect.stringContaining('held')]);
    expect(await course(id)).toMatchObject({ seats_held: 1, capacity: 1 });
  });

  it('switching to auto enrolls the live offers in that transaction', async () => {
    const id = await offerCourse(2);
    const holders = [await enroll(student(), id), await enroll(student(), id)];
    const waiting = [await enroll(student(), id), await enroll(student(), id), await enroll(student(), id)];
    for (const holder of holders) await drop(holder.key);
    expect(await course(id)).toMatchObject({ seats_held: 2 });
    const switched = await call('PATCH', `/courses/${id}`, { waitlist_mode: 'auto' }, asAdmin);
    expect(switched.body).toMatchObject({ waitlist_mode: 'auto', seats_held: 0, seats_taken: 2 });
    expect((await request(waiting[0].key)).status).toBe('enrolled');
    expect((await request(waiting[1].key)).status).toBe('enrolled');
    expect(await request(waiting[2].key)).toMatchObject({ status: 'waitlisted', waitlist_position: 1 });
  });

  it('an offer goes only to a request its schedule allows; accepting an offered swap swaps', async () => {
    const s = student();
    await call('PUT', `/admin/students/${s}/limits`, { max_credits: 4 }, asAdmin);
    const current = await newCourse(5, 3);
    const held = await enroll(s, current);
    const id = await newCourse(1, 3);
    await call('PATCH', `/courses/${id}`, { waitlist_mode: 'offer' }, asAdmin);
    const holder = await enroll(student(), id);
    const blocked = await enroll(s, id); // 3 + 3 credits over the limit of 4: waits blocked
    const swapper = student();
    await call('PUT', `/admin/students/${swapper}/limits`, { max_credits: 4 }, asAdmin);
    const swapperHeld = await enroll(swapper, current);
    const swap = await enroll(swapper, id, swapperHeld.key); // the credits are what the swap gives up
    expect(blocked).toMatchObject({ status: 'waitlisted', blocked_reason: 'max_credits' });
    await drop(holder.key);
    expect(await request(blocked.key)).toMatchObject({ status: 'waitlisted', waitlist_position: 1 });
    expect(await request(swap.key)).toMatchObject({ status: 'offered' });
    expect((await accept(swap.key)).body).toMatchObject({ status: 'enrolled' });
    expect(await request(swapperHeld.key)).toMatchObject({ status: 'dropped', reason: 'swapped' });
    expect(await txidOf(current, swapperHeld.key, 'dropped')).toBe(await txidOf(id, swap.key, 'promoted'));
    expect(await request(held.key)).toMatchObject({ status: 'enrolled' });
  });

  it('three processes sweeping the same due offers expire each once and hand each seat on once', async () => {
    await pool.scaleTo(2); // with this process: three sweeps a second
    const id = await offerCourse(20);
    const holders = await Promise.all(Array.from({ length: 20 }, () => enroll(student(), id)));
    const waiting = await Promise.all(Array.from({ length: 40 }, () => enroll(student(), id)));
    await Promise.all(holders.map((holder) => drop(holder.key)));
    const offered = waiting.filter((w) => w.status === 'waitlisted').slice(0, 20);
    expect(await course(id)).toMatchObject({ seats_held: 20, seats_taken: 0, waitlist_length: 20 });
    await db.query(
      `UPDATE decisions SET offer_expires_at = clock_timestamp() WHERE course_id = $1 AND status = 'offered'`,
      [id],
    );
    await eventually(async () => {
      const { rows } = await db.query(
        `SELECT count(*)::int AS n FROM course_changes WHERE course_id = $1 AND type = 'offer_expired'`,
        [id],
      );
      return rows[0].n >= 20 ? true : undefined;
    }, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // one more sweep of every process
    const events = await courseEvents(ctx.baseUrl, id);
    const expiredKeys = events.filter((e) => e.type === 'offer_expired').map((e) => e.idempotency_key);
    expect(expiredKeys).toHaveLength(20);
    expect(new Set(expiredKeys).size).toBe(20);
    const offeredAgain = events.filter(
      (e) => e.type === 'offered' && !expiredKeys.includes(e.idempotency_key),
    );
    expect(offeredAgain).toHaveLength(20); // the next 20, once each
    expect(await course(id)).toMatchObject({ seats_held: 20, seats_taken: 0, waitlist_length: 0 });
    expect(offered.length).toBe(20);
    await pool.scaleTo(0);
  }, 120_000);

  it('20 accepts sent around the deadline each end in exactly one of enrolled or offer_expired', async () => {
    const outcomes: string[] = [];
    for (let trial = 0; trial < 20; trial += 1) {
      const id = await offerCourse(1);
      const holder = await enroll(student(), id);
      const waiting = await enroll(student(), id);
      await drop(holder.key);
      const offset = (trial % 5) * 15 - 45; // sent 45 ms before .. 15 ms after the deadline
      await deadlineIn(waiting.key, 60);
      await new Promise((resolve) => setTimeout(resolve, 60 + offset));
      const answer = await accept(waiting.key);
      const final = await eventually(async () => {
        const found = await request(waiting.key);
        return found.status === 'offered' ? undefined : found;
      }, 6000);
      if (answer.status === 200) expect(final.status).toBe('enrolled');
      else expect([answer.status, final.status, final.reason]).toEqual([409, 'dropped', 'offer_expired']);
      const seats = await course(id);
      expect(seats.seats_taken + seats.seats_held).toBeLessThanOrEqual(seats.capacity);
      const ends = (await courseEvents(ctx.baseUrl, id)).filter(
        (e) => e.idempotency_key === waiting.key && ['promoted', 'offer_expired'].includes(e.type),
      );
      expect(ends).toHaveLength(1);
      outcomes.push(final.status === 'enrolled' ? 'enrolled' : 'offer_expired');
    }
    console.log(`accept around the deadline, 20 trials: ${JSON.stringify(countOf(outcomes))}`);
  }, 120_000);
});

const countOf = (values: string[]) =>
  values.reduce<Record<string, number>>((counts, v) => ({ ...counts, [v]: (counts[v] ?? 0) + 1 }), {});
