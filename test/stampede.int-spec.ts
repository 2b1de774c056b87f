import { connect, courseTruth } from './support/db-client.js';
import { eventually, http, newCourse, useWorld, waitForDecision } from './support/test-app.js';

/** Real races: hundreds of concurrent HTTP requests against one API process and two worker processes. */
describe('a stampede on one course', () => {
  const ctx = useWorld({ appEnv: { ROLE: 'api' } });

  beforeAll(async () => {
    await Promise.all([
      ctx.startApp({ ROLE: 'worker', WORKER_CONCURRENCY: '4' }),
      ctx.startApp({ ROLE: 'worker', WORKER_CONCURRENCY: '4' }),
    ]);
  });

  const enroll = (body: Record<string, unknown>) => http(ctx.baseUrl, 'POST', '/enroll', body);
  const outcomeOf = async (key: string) => (await waitForDecision(ctx.baseUrl, key)).body;

  /** Waits on one cheap count rather than polling hundreds of keys. */
  const decisionsReach = async (courseId: number, count: number) => {
    const db = await connect(ctx.world.database.url);
    try {
      await eventually(
        async () => {
          const { rows } = await db.query('SELECT count(*)::int AS n FROM decisions WHERE course_id = $1', [
            courseId,
          ]);
          return rows[0].n >= count ? true : undefined;
        },
        60_000,
        `${count} decisions`,
      );
    } finally {
      await db.end();
    }
  };

  it('never exceeds 30 seats when 500 students arrive at once, and waitlists the rest at 1..470', async () => {
    const courseId = await newCourse(ctx.baseUrl, 30);
    const students = Array.from({ length: 500 }, (_, i) => `s-${String(i).padStart(4, '0')}`);
    const responses = await Promise.all(
      students.map((student, i) =>
        enroll({
          student_id: student,
          course_id: courseId,
          priority: i % 4 === 0 ? 50 : 0,
          idempotency_key: `st-${student}`,
        }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(students.map(() => 202));

    await decisionsReach(courseId, 500);
    const outcomes = await Promise.all(students.map((student) => outcomeOf(`st-${student}`)));
    const enrolled = outcomes.filter((outcome) => outcome.status === 'enrolled');
    const waitlisted = outcomes.filter((outcome) => outcome.status === 'waitlisted');
    expect(enrolled).toHaveLength(30);
    expect(waitlisted).toHaveLength(470);
    expect(waitlisted.map((outcome) => outcome.waitlist_position).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 470 }, (_, i) => i + 1),
    );

    const course = (await http(ctx.baseUrl, 'GET', `/courses/${courseId}`)).body;
    expect(course).toMatchObject({ capacity: 30, seats_taken: 30, seats_available: 0, waitlist_length: 470 });
    const db = await connect(ctx.world.database.url);
    try {
      expect(await courseTruth(db, courseId)).toEqual({
        capacity: 30,
        seats_taken: 30,
        waitlist_length: 470,
        enrollments: 30,
        waitlist_entries: 470,
      });
      const { rows } = await db.query('SELECT count(*)::int AS n FROM decisions WHERE course_id = $1', [
        courseId,
      ]);
      expect(rows[0].n).toBe(500);
    } finally {
      await db.end();
    }
  });

  it('collapses concurrent duplicates of one key into one 202 and one outcome', async () => {
    const courseId = await newCourse(ctx.baseUrl, 3);
    const request = {
      student_id: 'dup-1',
      course_id: courseId,
      priority: 7,
      idempotency_key: 'same-key-25-times',
    };
    const responses = await Promise.all(Array.from({ length: 25 }, () => enroll(request)));
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses.filter((status) => status === 202)).toHaveLength(1);
    expect(statuses.filter((status) => status === 200)).toHaveLength(24);
    for (const response of responses) expect(response.body.idempotency_key).toBe('same-key-25-times');

    expect(await outcomeOf('same-key-25-times')).toMatchObject({ status: 'enrolled', student_id: 'dup-1' });
    const db = await connect(ctx.world.database.url);
    try {
      expect(await courseTruth(db, courseId)).toMatchObject({
        seats_taken: 1,
        enrollments: 1,
        waitlist_entries: 0,
      });
      const { rows } = await db.query('SELECT count(*)::int AS n FROM decisions WHERE course_id = $1', [
        courseId,
      ]);
      expect(rows[0].n).toBe(1);
    } finally {
      await db.end();
    }
  });

  it('gives a student who sends under several keys one place and rejects the others', async () => {
    const courseId = await newCourse(ctx.baseUrl, 10);
    const keys = Array.from({ length: 8 }, (_, i) => `multi-${i}`);
    const responses = await Promise.all(
      keys.map((key) => enroll({ student_id: 'greedy', course_id: courseId, idempotency_key: key })),
    );
    expect(responses.every((response) => response.status === 202)).toBe(true);
    const outcomes = await Promise.all(keys.map(outcomeOf));
    expect(outcomes.filter((outcome) => outcome.status === 'enrolled')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(7);
    for (const outcome of outcomes.filter((o) => o.status === 'rejected')) {
      expect(outcome.reason).toBe('already_enrolled');
    }
    const course = (await http(ctx.baseUrl, 'GET', `/courses/${courseId}`)).body;
    expect(course).toMatchObject({ seats_taken: 1, waitlist_length: 0 });
  });

  it('rejects a waitlisted student who asks again as already_waitlisted', async () => {
    const courseId = await newCourse(ctx.baseUrl, 0);
    expect(
      (await enroll({ student_id: 'w-1', course_id: courseId, idempotency_key: 'wl-first' })).status,
    ).toBe(202);
    expect(await outcomeOf('wl-first')).toMatchObject({ status: 'waitlisted', waitlist_position: 1 });
    expect(
      (await enroll({ student_id: 'w-1', course_id: courseId, idempotency_key: 'wl-second' })).status,
    ).toBe(202);
    expect(await outcomeOf('wl-second')).toMatchObject({ status: 'rejected', reason: 'already_waitlisted' });
  });
});
