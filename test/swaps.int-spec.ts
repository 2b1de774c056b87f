import {
  apiCalls,
  asAdmin,
  courseEvents,
  newRequest,
  useWorld,
  waitForDecision,
} from './support/test-app.js';

/** Swaps through HTTP, as docs/guarantees.md (Swap) says: never both courses, never neither. */
describe('swaps', () => {
  const ctx = useWorld();

  const { call, request, schedule, course, drop, student, newCourse } = apiCalls(ctx, 'swp');

  /** Sends one request (a swap if swapFor is given) and waits for its decision. */
  async function enroll(studentId: string, courseId: number, swapFor?: string) {
    const body = newRequest(courseId, { student_id: studentId, ...(swapFor ? { swap_for: swapFor } : {}) });
    const accepted = await call('POST', '/enroll', body);
    expect([accepted.status, accepted.body.swap_for]).toEqual([202, swapFor ?? null]);
    const decided = await waitForDecision(ctx.baseUrl, body.idempotency_key);
    return { key: body.idempotency_key, ...decided.body };
  }

  it('refuses every bad swap_for with its status, and queues nothing for it', async () => {
    const s = student();
    const x = await newCourse(5);
    const y = await newCourse(5);
    const held = await enroll(s, y);
    const other = await enroll(student(), x);
    const own = newRequest(x, { student_id: s });
    const cases: Array<[string, Record<string, unknown>, number, string]> = [
      ['its own key', { ...own, swap_for: own.idempotency_key }, 400, 'swap_for'],
      ['an unknown key', { ...newRequest(x, { student_id: s }), swap_for: 'no-such-key' }, 422, 'swap_for'],
      ["another student's", { ...newRequest(y, { student_id: s }), swap_for: other.key }, 422, 'swap_for'],
      ['the same course', { ...newRequest(y, { student_id: s }), swap_for: held.key }, 422, 'swap_for'],
      ['a malformed key', { ...newRequest(x, { student_id: s }), swap_for: 'tab\there' }, 400, 'swap_for'],
      ['a number', { ...newRequest(x, { student_id: s }), swap_for: 7 }, 400, 'swap_for'],
    ];
    for (const [what, body, status, field] of cases) {
      const answer = await call('POST', '/enroll', body);
      expect([what, answer.status, answer.body.message]).toEqual([
        what,
        status,
        expect.stringContaining(field),
      ]);
      expect(
        (await call('GET', `/enrollments/${encodeURIComponent(body.idempotency_key as string)}`)).status,
      ).toBe(404);
    }
    // The 422 tells nothing more for another student's key than for an unknown one.
    const unknown = await call('POST', '/enroll', { ...newRequest(x, { student_id: s }), swap_for: 'nope' });
    const foreign = await call('POST', '/enroll', {
      ...newRequest(y, { student_id: s }),
      swap_for: other.key,
    });
    expect(foreign.body.message).toBe(unknown.body.message);
  });

  it('lets one of two racing swaps name a request (202), the other 409; a replay is 200, a changed one 422', async () => {
    const s = student();
    const full = await newCourse(0);
    const alsoFull = await newCourse(0);
    const y = await newCourse(5);
    const held = await enroll(s, y);
    const first = newRequest(full, { student_id: s, swap_for: held.key });
    const second = newRequest(alsoFull, { student_id: s, swap_for: held.key });
    const answers = await Promise.all([call('POST', '/enroll', first), call('POST', '/enroll', second)]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([202, 409]);
    const winner = answers[0].status === 202 ? first : second;
    const loser = answers[0].status === 202 ? answers[1] : answers[0];
    expect(loser.body.message).toContain(held.key);
    expect((await waitForDecision(ctx.baseUrl, winner.idempotency_key)).body.status).toBe('waitlisted');
    expect((await call('POST', '/enroll', winner)).status).toBe(200);
    expect((await call('POST', '/enroll', { ...winner, swap_for: undefined })).status).toBe(422);
    // Once the pending swap is withdrawn, the request may be named again.
    expect((await drop(winner.idempotency_key)).body.status).toBe('dropped');
    const again = newRequest(winner === first ? alsoFull : full, { student_id: s, swap_for: held.key });
    expect((await call('POST', '/enroll', again)).status).toBe(202);
  });

  it("swaps at once with a seat free: one commit enrolls A, drops B (swapped) and promotes B's waitlist head", async () => {
    const s = student();
    const x = await newCourse(1);
    const y = await newCourse(1);
    const b = await enroll(s, y);
    const head = await enroll(student(), y);
    expect(head.status).toBe('waitlisted');
    const a = await enroll(s, x, b.key);
    expect(a).toMatchObject({ status: 'enrolled', swap_for: b.key, reason: null });
    expect(await request(b.key)).toMatchObject({ status: 'dropped', reason: 'swapped', swap_for: null });
    expect(await request(head.key)).toMatchObject({ status: 'enrolled', promoted_at: expect.any(String) });
    const decided = (await courseEvents(ctx.baseUrl, x)).find((event) => event.idempotency_key === a.key)!;
    const yEvents = await courseEvents(ctx.baseUrl, y);
    const dropped = yEvents.find((event) => event.type === 'dropped')!;
    const promoted = yEvents.find((event) => event.type === 'promoted')!;
    expect(dropped).toMatchObject({ idempotency_key: b.key, reason: 'swapped', status: 'dropped' });
    expect([dropped.txid, promoted.txid]).toEqual([decided.txid, decided.txid]);
    expect(await course(y)).toMatchObject({ seats_taken: 1, waitlist_length: 0 });
    expect(await course(x)).toMatchObject({ seats_taken: 1 });
  });

  it('waits when full, keeps B meanwhile, and swaps in the transaction that promotes A', async () => {
    const s = student();
    const x = await newCourse(1);
    const y = await newCourse(2);
    const holder = await enroll(student(), x);
    const b = await enroll(s, y);
    const a = await enroll(s, x, b.key);
    expect(a).toMatchObject({ status: 'waitlisted', waitlist_position: 1, swap_for: b.key });
    expect(await request(b.key)).toMatchObject({ status: 'enrolled' });
    expect(await schedule(s)).toMatchObject({ waitlisted_count: 1 });
    expect((await drop(holder.key)).body.status).toBe('dropped');
    expect(await request(a.key)).toMatchObject({ status: 'enrolled', promoted_at: expect.any(String) });
    expect(await request(b.key)).toMatchObject({ status: 'dropped', reason: 'swapped' });
    const promoted = (await courseEvents(ctx.baseUrl, x)).find((event) => event.type === 'promoted')!;
    const dropped = (await courseEvents(ctx.baseUrl, y)).find((event) => event.type === 'dropped')!;
    expect(dropped.txid).toBe(promoted.txid);
    expect(await schedule(s)).toMatchObject({
      waitlisted_count: 0,
      enrolled: [expect.objectContaining({ idempotency_key: a.key })],
    });
  });

  it("gives a waiting B's place up when A is enrolled, moving everyone behind B up", async () => {
    const s = student();
    const x = await newCourse(1);
    const y = await newCourse(0);
    const ahead = await enroll(student(), y);
    const b = await enroll(s, y);
    const behind = await enroll(student(), y);
    expect([ahead.waitlist_position, b.waitlist_position, behind.waitlist_position]).toEqual([1, 2, 3]);
    const a = await enroll(s, x, b.key);
    expect(a.status).toBe('enrolled');
    expect(await request(b.key)).toMatchObject({ status: 'dropped', reason: 'swapped' });
    expect(await request(behind.key)).toMatchObject({ waitlist_position: 2 });
    expect(await course(y)).toMatchObject({ waitlist_length: 2 });
    expect(await schedule(s)).toMatchObject({ waitlisted_count: 0 });
  });

  it('rejects swap_target_gone when B is not held at the decision; a waiting A whose B went is promoted alone', async () => {
    const s = student();
    const x = await newCourse(1);
    const y = await newCourse(5);
    const gone = await enroll(s, y);
    expect((await drop(gone.key)).body).toMatchObject({ status: 'dropped', reason: null });
    expect(await enroll(s, x, gone.key)).toMatchObject({ status: 'rejected', reason: 'swap_target_gone' });

    const b = await enroll(s, y);
    const full = await newCourse(1);
    const holder = await enroll(student(), full);
    const waiting = await enroll(s, full, b.key);
    expect(waiting.status).toBe('waitlisted');
    expect((await drop(b.key)).body).toMatchObject({ status: 'dropped', reason: null });
    // B is still named by the pending swap, though it is gone.
    expect((await call('POST', '/enroll', newRequest(x, { student_id: s, swap_for: b.key }))).status).toBe(
      409,
    );
    await drop(holder.key);
    expect(await request(waiting.key)).toMatchObject({ status: 'enrolled' });
    expect(await request(b.key)).toMatchObject({ status: 'dropped', reason: null });
  });

  it('DELETE on a waiting swap cancels it and leaves B as it is', async () => {
    const s = student();
    const x = await newCourse(0);
    const y = await newCourse(1);
    const b = await enroll(s, y);
    const a = await enroll(s, x, b.key);
    expect(a.status).toBe('waitlisted');
    expect((await drop(a.key)).body).toMatchObject({ status: 'dropped', swap_for: b.key });
    await call('PATCH', `/courses/${x}`, { capacity: 1 }, asAdmin);
    expect(await request(b.key)).toMatchObject({ status: 'enrolled' });
    // A queued swap cancelled keeps its swap_for too.
    expect((await course(x)).seats_available).toBe(1);
  });

  it("does not count B's meetings and credits against A, and guarantee 8 holds after", async () => {
    const s = student();
    await call('PUT', `/admin/students/${s}/limits`, { max_credits: 4 }, asAdmin);
    const nine = [{ days: 'MWF', start: '09:00', end: '09:50' }];
    const y = await newCourse(5, 4, nine);
    const x = await newCourse(5, 4, nine);
    const full = await newCourse(0, 4, nine);
    const b = await enroll(s, y);
    // Without a swap: a conflict, and over the limit.
    expect(await enroll(s, x)).toMatchObject({ status: 'rejected', reason: 'time_conflict' });
    // A waiting swap is not blocked by what it gives up.
    const waiting = await enroll(s, full, b.key);
    expect(waiting).toMatchObject({ status: 'waitlisted', blocked_reason: null });
    await call('DELETE', `/enrollments/${encodeURIComponent(waiting.key)}`);
    const a = await enroll(s, x, b.key);
    expect(a.status).toBe('enrolled');
    expect(await schedule(s)).toMatchObject({
      enrolled_credits: 4,
      enrolled: [expect.objectContaining({ course_id: x })],
    });
  });

  it('carries a chain of swaps on: a seat a promotion frees goes to the next swap, in one commit', async () => {
    // Three full courses; each student holds one and waits on the next with a swap; one drop moves everyone.
    const [c1, c2, c3] = [await newCourse(1), await newCourse(1), await newCourse(1)];
    const [s1, s2, s3] = [student(), student(), student()];
    const h1 = await enroll(s1, c1);
    const h2 = await enroll(s2, c2);
    const h3 = await enroll(s3, c3);
    const w2 = await enroll(s1, c2, h1.key); // s1: c1 → c2
    const w3 = await enroll(s2, c3, h2.key); // s2: c2 → c3
    const newcomer = await enroll(student(), c1);
    expect([w2.status, w3.status, newcomer.status]).toEqual(['waitlisted', 'waitlisted', 'waitlisted']);
    expect((await drop(h3.key)).body.status).toBe('dropped'); // s3 leaves c3
    expect(await request(w3.key)).toMatchObject({ status: 'enrolled' });
    expect(await request(h2.key)).toMatchObject({ status: 'dropped', reason: 'swapped' });
    expect(await request(w2.key)).toMatchObject({ status: 'enrolled' });
    expect(await request(h1.key)).toMatchObject({ status: 'dropped', reason: 'swapped' });
    expect(await request(newcomer.key)).toMatchObject({ status: 'enrolled' });
    const txids = new Set<string>();
    for (const id of [c1, c2, c3]) {
      for (const event of await courseEvents(ctx.baseUrl, id)) {
        if (['promoted', 'dropped'].includes(event.type)) txids.add(event.txid!);
      }
    }
    expect(txids.size).toBe(1);
    for (const id of [c1, c2, c3])
      expect(await course(id)).toMatchObject({ seats_taken: 1, waitlist_length: 0 });
  });
});
