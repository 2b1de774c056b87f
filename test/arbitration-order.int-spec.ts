import { connect } from './support/db-client.js';
import {
  createWorld,
  eventually,
  http,
  newCourse,
  startApp,
  type TestApp,
  type TestWorld,
} from './support/test-app.js';

interface Sent {
  key: string;
  student: string;
  courseId: number;
  priority: number;
  index: number;
}

/**
 * Guarantee 4: the queue is filled first with the workers stopped, then two worker processes with
 * concurrency 4 each drain it. Every course must come out exactly as a sequential decider would decide it:
 * higher priority first, equal priority in acceptance order.
 */
describe('arbitration order with several workers', () => {
  let world: TestWorld;
  let api: TestApp;
  let workers: TestApp[] = [];

  beforeAll(async () => {
    world = await createWorld({ ALLOCATION_PARTITIONS: '3' });
    api = await startApp(world, { ROLE: 'api' });
  });
  afterAll(async () => {
    await Promise.all([api, ...workers].map((app) => app.close()));
    await world.destroy();
  });

  it('decides each course strictly by priority, then acceptance order, whatever worker takes the job', async () => {
    const capacities = [10, 4, 1, 0];
    const courseIds = await Promise.all(capacities.map((capacity) => newCourse(api.baseUrl, capacity)));
    const priorities = [0, 10, 50, 100, 50, 0, 10];
    const sent: Sent[] = [];
    // Sequential sends give a known acceptance order; courses interleave so partitions fill side by side.
    for (let index = 0; index < 160; index += 1) {
      const courseId = courseIds[index % courseIds.length];
      // Every 9th request repeats an earlier student of the course under a new key.
      const student = index % 9 === 8 ? sent[index - 8].student : `o-${index}`;
      const priority = priorities[(index * 5) % priorities.length];
      const key = `order-${index}`;
      const response = await http(api.baseUrl, 'POST', '/enroll', {
        student_id: student,
        course_id: courseId,
        priority,
        idempotency_key: key,
      });
      expect(response.status).toBe(202);
      sent.push({ key, student, courseId, priority, index });
    }

    workers = await Promise.all([
      startApp(world, { ROLE: 'worker', WORKER_CONCURRENCY: '4', ALLOCATION_PARTITIONS: '3' }),
      startApp(world, { ROLE: 'worker', WORKER_CONCURRENCY: '4', ALLOCATION_PARTITIONS: '3' }),
    ]);
    const db = await connect(world.database.url);
    try {
      await eventually(
        async () => {
          const { rows } = await db.query('SELECT count(*)::int AS n FROM decisions');
          return rows[0].n === sent.length ? true : undefined;
        },
        60_000,
        'every decision',
      );
    } finally {
      await db.end();
    }

    for (const [courseIndex, courseId] of courseIds.entries()) {
      const expected = decideSequentially(
        sent.filter((request) => request.courseId === courseId),
        capacities[courseIndex],
      );
      for (const [key, outcome] of expected) {
        const actual = (await http(api.baseUrl, 'GET', `/enrollments/${key}`)).body;
        expect({
          key,
          status: actual.status,
          reason: actual.reason,
          waitlist_position: actual.waitlist_position,
        }).toEqual({
          key,
          ...outcome,
        });
      }
    }
  });
});

/** The reference: requests sorted into arbitration order and decided one by one. */
function decideSequentially(requests: Sent[], capacity: number) {
  const ordered = [...requests].sort((a, b) => b.priority - a.priority || a.index - b.index);
  const held = new Map<string, 'enrolled' | 'waitlisted'>();
  let seats = 0;
  let waitlist = 0;
  const outcomes = new Map<
    string,
    { status: string; reason: string | null; waitlist_position: number | null }
  >();
  for (const request of ordered) {
    const hold = held.get(request.student);
    if (hold) {
      outcomes.set(request.key, { status: 'rejected', reason: `already_${hold}`, waitlist_position: null });
    } else if (seats < capacity) {
      seats += 1;
      held.set(request.student, 'enrolled');
      outcomes.set(request.key, { status: 'enrolled', reason: null, waitlist_position: null });
    } else {
      waitlist += 1;
      held.set(request.student, 'waitlisted');
      outcomes.set(request.key, { status: 'waitlisted', reason: null, waitlist_position: waitlist });
    }
  }
  return outcomes;
}
