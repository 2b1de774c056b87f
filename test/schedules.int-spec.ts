import {
  apiCalls,
  asAdmin,
  courseEvents,
  newRequest,
  useWorld,
  waitForDecision,
} from './support/test-app.js';
import { connect } from './support/db-client.js';

/** Students' schedules through HTTP, as docs/guarantees.md §8 and §23 say. */
describe('schedules', () => {
  const ctx = useWorld();

  const { call, request, schedule, course, drop, student, newCourse } = apiCalls(ctx, 'sch');

  /** Sends one request and waits for its decision; returns its key and decided body. */
  async function enroll(studentId: string, courseId: number) {
    const body = newRequest(courseId, { student_id: studentId });
    expect((await call('POST', '/enroll', body)).status).toBe(202);
    const decided = await waitForDecision(ctx.baseUrl, body.idempotency_key);
    return { key: body.idempotency_key, ...decided.body };
  }
  const setLimits = (studentId: string, limits: Record<string, unknown>) =>
    call('PUT', `/admin/students/${studentId}/limits`, limits, asAdmin);

  it('stores credits and meetings, and refuses malformed ones naming the field', async () => {
    const meetings = [{ days: 'MWF', start: '09:00', end: '09:50' }];
    const id = await newCourse(5, 3.5, meetings);
    expect(await course(id)).toMatchObject({ credits: 3.5, meetings, seats_held: 0, waitlist_mode: 'auto' });
    const bad: Array<[unknown, string]> = [
      [{ credits: 3.3 }, 'credits'],
      [{ credits: 40.5 }, 'credits'],
      [{ meetings: [{ days: 'MXF', start: '09:00', end: '09:50' }] }, 'meetings.0.days'],
      [{ meetings: [{ days: 'MWF', start: '9:00', end: '09:50' }] }, 'meetings.0.start'],
      [{ meetings: [{ days: 'MWF', start: '10:00', end: '09:50' }] }, 'meetings.0.end'],
      [{ meetings: [{ days: 'MWF', start: '09:00', end: '09:50', room: 'B1' }] }, 'meetings.0.room'],
    ];
    for (const [fields, field] of bad) {
      const answer = await call('PATCH', `/courses/${id}`, fields, asAdmin);
      expect([answer.status, answer.body.message]).toEqual([400, expect.stringContaining(field)]);
    }
    expect(await course(id)).toMatchObject({ credits: 3.5, meetings });
  });

  it('rejects time conflicts (seat or not), credits past the limit and waitlists past the limit', async () => {
    const s = student();
    expect((await setLimits(s, { max_credits: 8, max_waitlisted: 1 })).status).toBe(200);
    const monday = await newCourse(5, 4, [{ days: 'MW', start: '09:00', end: '10:15' }]);
    const clash = await newCourse(5, 1, [{ days: 'W', start: '10:00', end: '11:00' }]);
    const fullClash = await newCourse(0, 1, [{ days: 'M', start: '08:00', end: '09:30' }]);
    const adjacent = await newCourse(5, 4, [{ days: 'MW', start: '10:15', end: '11:00' }]);
    const tooMany = await newCourse(5, 0.5);
    const fullA = await newCourse(0, 3);
    const fullB = await newCourse(0, 3);

    expect((await enroll(s, monday)).status).toBe('enrolled');
    expect(await enroll(s, clash)).toMatchObject({ status: 'rejected', reason: 'time_conflict' });
    expect(await enroll(s, fullClash)).toMatchObject({ status: 'rejected', reason: 'time_conflict' });
    // 10:15 after 10:15 is no overlap, and 8 credits equal to the limit is allowed.
    expect((await enroll(s, adjacent)).status).toBe('enrolled');
    expect(await enroll(s, tooMany)).toMatchObject({ status: 'rejected', reason: 'max_credits' });
    // A full course does not count credits; the waitlist limit applies.
    expect(await enroll(s, fullA)).toMatchObject({ status: 'waitlisted', waitlist_position: 1 });
    expect(await enroll(s, fullB)).toMatchObject({ status: 'rejected', reason: 'max_waitlisted' });

    expect(await schedule(s)).toMatchObject({
      student_id: s,
      max_credits: 8,
      max_waitlisted: 1,
      enrolled_credits: 8,
      waitlisted_count: 1,
      overrides: [],
    });
    const mine = await schedule(s);
    expect(mine.enrolled.map((held: { course_id: number }) => held.course_id).sort()).toEqual(
      [monday, adjacent].sort(),
    );
    expect(mine.waiting).toEqual([
      expect.objectContaining({ course_id: fullA, blocked_reason: 'max_credits' }),
    ]);
  });

  it('keeps a blocked request in its place and promotes it when a drop elsewhere lifts the block, in one commit', async () => {
    const blocked = student();
    expect((await setLimits(blocked, { max_credits: 4 })).status).toBe(200);
    const held = await newCourse(5, 4);
    const wanted = await newCourse(1, 4);
    const mine = await enroll(blocked, held);
    expect(mine.status).toBe('enrolled');

    const seatHolder = await enroll(student(), wanted);
    const waiting = await enroll(blocked, wanted);
    const behind = await enroll(student(), wanted);
    expect([waiting.status, behind.status]).toEqual(['waitlisted', 'waitlisted']);
    expect((await request(waiting.key)).blocked_reason).toBe('max_credits');

    // The seat frees: the blocked request keeps place 1, the one behind it takes the seat.
    expect((await drop(seatHolder.key)).status).toBe(200);
    expect(await request(behind.key)).toMatchObject({ status: 'enrolled' });
    expect(await request(waiting.key)).toMatchObject({
      status: 'waitlisted',
      waitlist_position: 1,
      blocked_reason: 'max_credits',
    });
    // A capacity raise passes over it too: the seat stays free beside a blocked waitlist.
    expect((await call('PATCH', `/courses/${wanted}`, { capacity: 2 }, asAdmin)).status).toBe(200);
    expect(await course(wanted)).toMatchObject({ seats_available: 1, waitlist_length: 1 });

    // Dropping the held course lifts the block: promoted in the same transaction as the drop.
    expect((await drop(mine.key)).status).toBe(200);
    expect(await request(waiting.key)).toMatchObject({ status: 'enrolled', blocked_reason: null });
    expect(await course(wanted)).toMatchObject({ seats_available: 0, waitlist_length: 0 });
    const dropped = (await courseEvents(ctx.baseUrl, held)).find((event) => event.type === 'dropped')!;
    const promoted = (await courseEvents(ctx.baseUrl, wanted)).find(
      (event) => event.type === 'promoted' && event.idempotency_key === waiting.key,
    )!;
    expect(dropped.txid).toMatch(/^[0-9]+$/);
    expect(promoted.txid).toBe(dropped.txid);
    expect(await schedule(blocked)).toMatchObject({ enrolled_credits: 4, waitlisted_count: 0 });
  });

  it('promotes a blocked request when its limit is raised or an override arrives', async () => {
    const [first, second] = [student(), student()];
    for (const s of [first, second]) expect((await setLimits(s, { max_credits: 3 })).status).toBe(200);
    const held = await newCourse(5, 3);
    const wanted = await newCourse(1, 3);
    for (const s of [first, second]) expect((await enroll(s, held)).status).toBe('enrolled');
    const holder = await enroll(student(), wanted);
    const a = await enroll(first, wanted);
    const b = await enroll(second, wanted);
    expect((await call('PATCH', `/courses/${wanted}`, { capacity: 3 }, asAdmin)).status).toBe(200);
    expect(await course(wanted)).toMatchObject({ seats_available: 2, waitlist_length: 2 });

    // A limit below the load is refused; a raised one promotes.
    const refused = await setLimits(first, { max_credits: 2 });
    expect([refused.status, refused.body.message]).toEqual([409, expect.stringContaining('max_credits')]);
    const raised = await setLimits(first, { max_credits: 6 });
    expect(raised.status).toBe(200);
    expect(raised.body).toMatchObject({ max_credits: 6, enrolled_credits: 6, waiting: [] });
    expect((await request(a.key)).status).toBe('enrolled');

    // An override of the credit limit for that course promotes the second.
    const override = await call(
      'POST',
      '/admin/overrides',
      { student_id: second, course_id: wanted, kinds: ['max_credits'], expires_at: null },
      asAdmin,
    );
    expect(override.status).toBe(201);
    expect(override.body).toMatchObject({ student_id: second, course_id: wanted, kinds: ['max_credits'] });
    expect((await request(b.key)).status).toBe('enrolled');
    expect(await schedule(second)).toMatchObject({
      max_credits: 3,
      enrolled_credits: 6,
      overrides: [expect.objectContaining({ id: override.body.id })],
    });
    expect(await course(wanted)).toMatchObject({ seats_taken: 3, waitlist_length: 0 });
    expect((await drop(holder.key)).status).toBe(200);

    expect((await call('DELETE', `/admin/overrides/${override.body.id}`, undefined, asAdmin)).status).toBe(
      204,
    );
    expect((await call('DELETE', `/admin/overrides/${override.body.id}`, undefined, asAdmin)).status).toBe(
      404,
    );
    // Nobody loses a place when the override goes.
    expect((await request(b.key)).status).toBe('enrolled');
  });

  it('lifts a time conflict when the conflicting course moves, and its students keep their seats', async () => {
    const s = student();
    const morning = await newCourse(5, 2, [{ days: 'TR', start: '09:00', end: '10:00' }]);
    const other = await newCourse(0, 2, [{ days: 'T', start: '09:30', end: '10:30' }]);
    const mine = await enroll(s, morning);
    expect(mine.status).toBe('enrolled');
    // Full: a time conflict is refused even without a seat; lift it with an override, then wait.
    const refused = await enroll(s, other);
    expect(refused).toMatchObject({ status: 'rejected', reason: 'time_conflict' });
    const override = await call(
      'POST',
      '/admin/overrides',
      { student_id: s, course_id: other, kinds: ['time_conflict'], expires_at: '2099-01-01T00:00:00Z' },
      asAdmin,
    );
    expect(override.status).toBe(201);
    const waiting = await enroll(s, other);
    expect(waiting).toMatchObject({ status: 'waitlisted', blocked_reason: null });
    expect((await call('DELETE', `/admin/overrides/${override.body.id}`, undefined, asAdmin)).status).toBe(
      204,
    );
    expect((await request(waiting.key)).blocked_reason).toBe('time_conflict');
    expect((await call('PATCH', `/courses/${other}`, { capacity: 1 }, asAdmin)).status).toBe(200);
    expect(await request(waiting.key)).toMatchObject({
      status: 'waitlisted',
      blocked_reason: 'time_conflict',
    });

    // The course the student holds moves to the afternoon, and gains a credit: the block lifts at once.
    const moved = await call(
      'PATCH',
      `/courses/${morning}`,
      { credits: 3, meetings: [{ days: 'TR', start: '14:00', end: '15:00' }] },
      asAdmin,
    );
    expect(moved.status).toBe(200);
    expect(await request(waiting.key)).toMatchObject({ status: 'enrolled' });
    expect(await schedule(s)).toMatchObject({ enrolled_credits: 5, waitlisted_count: 0 });
  });

  it('answers the operator endpoints with the contract statuses', async () => {
    expect(await schedule('nobody-at-all')).toEqual({
      student_id: 'nobody-at-all',
      max_credits: null,
      max_waitlisted: null,
      enrolled_credits: 0,
      waitlisted_count: 0,
      enrolled: [],
      waiting: [],
      overrides: [],
    });
    expect((await call('GET', '/students/bad%20id/schedule')).status).toBe(400);
    expect((await call('PUT', '/admin/students/s-1/limits', { max_credits: 3 })).status).toBe(401);
    for (const [body, field] of [
      [{ max_credits: 200.5 }, 'max_credits'],
      [{ max_credits: 1.25 }, 'max_credits'],
      [{ max_waitlisted: 1.5 }, 'max_waitlisted'],
      [{ max_waitlisted: 101 }, 'max_waitlisted'],
      [{ other: 1 }, 'other'],
    ] as const) {
      const answer = await setLimits('s-1', body);
      expect([answer.status, answer.body.message]).toEqual([400, expect.stringContaining(field)]);
    }
    const id = await newCourse(1);
    const overrides: Array<[unknown, number, string]> = [
      [{ student_id: 's-1', course_id: 2_000_000_000, kinds: ['max_credits'] }, 404, 'course_id'],
      [{ student_id: 's-1', course_id: id, kinds: [] }, 400, 'kinds'],
      [{ student_id: 's-1', course_id: id, kinds: ['curfew'] }, 400, 'kinds'],
      [{ student_id: 's-1', course_id: id, kinds: ['max_credits', 'max_credits'] }, 400, 'kinds'],
      [{ student_id: 's 1', course_id: id, kinds: ['max_credits'] }, 400, 'student_id'],
      [
        { student_id: 's-1', course_id: id, kinds: ['max_credits'], expires_at: '2001-01-01T00:00:00Z' },
        400,
        'expires_at',
      ],
    ];
    for (const [body, status, field] of overrides) {
      const answer = await call('POST', '/admin/overrides', body, asAdmin);
      expect([answer.status, answer.body.message]).toEqual([status, expect.stringContaining(field)]);
    }
    expect((await call('DELETE', '/admin/overrides/abc', undefined, asAdmin)).status).toBe(404);
    expect((await call('DELETE', '/admin/overrides/1', undefined)).status).toBe(401);
  });

  it('keeps every load row equal to what the student holds', async () => {
    const db = await connect(ctx.world.database.url);
    try {
      const { rows } = await db.query(
        `SELECT l.student_id FROM student_loads l
          LEFT JOIN (SELECT e.student_id, sum(c.credits) AS credits FROM enrollments e
                       JOIN courses c ON c.id = e.course_id GROUP BY e.student_id) e ON e.student_id = l.student_id
          LEFT JOIN (SELECT student_id, count(*) AS waiting FROM waitlist_entries GROUP BY student_id) w
                 ON w.student_id = l.student_id
         WHERE l.enrolled_credits <> COALESCE(e.credits, 0) OR l.waitlisted_count <> COALESCE(w.waiting, 0)`,
      );
      expect(rows).toEqual([]);
    } finally {
      await db.end();
    }
  });
});
