import { http } from './test-app.js';

/** A request the test sent, with its place in the acceptance order. */
export interface Sent {
  key: string;
  student: string;
  courseId: number;
  priority: number;
  index: number;
}

const PRIORITIES = [0, 10, 50, 100, 50, 0, 10];

/**
 * Sends `count` requests one after another (a known acceptance order), the courses interleaved so that
 * partitions fill side by side, priorities mixed, and every 9th request repeating an earlier student of its
 * course under a new key.
 */
export async function sendInOrder(baseUrl: string, courseIds: number[], count: number, tag: string) {
  const sent: Sent[] = [];
  for (let index = 0; index < count; index += 1) {
    const courseId = courseIds[index % courseIds.length];
    const student = index % 9 === 8 ? sent[index - 8].student : `${tag}-s${index}`;
    const priority = PRIORITIES[(index * 5) % PRIORITIES.length];
    const key = `${tag}-${index}`;
    const response = await http(baseUrl, 'POST', '/enroll', {
      student_id: student,
      course_id: courseId,
      priority,
      idempotency_key: key,
    });
    if (response.status !== 202)
      throw new Error(`${key}: ${response.status} ${JSON.stringify(response.body)}`);
    sent.push({ key, student, courseId, priority, index });
  }
  return sent;
}

export interface Outcome {
  status: string;
  reason: string | null;
  waitlist_position: number | null;
}

/** The reference: one course's requests sorted into arbitration order and decided one by one. */
export function decideSequentially(requests: Sent[], capacity: number): Map<string, Outcome> {
  const ordered = [...requests].sort((a, b) => b.priority - a.priority || a.index - b.index);
  const held = new Map<string, 'enrolled' | 'waitlisted'>();
  let seats = 0;
  let waitlist = 0;
  const outcomes = new Map<string, Outcome>();
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

/** Every request's outcome as the API shows it, beside the reference's, for one toEqual. */
export async function outcomesVersusReference(
  baseUrl: string,
  sent: Sent[],
  courseIds: number[],
  capacities: number[],
) {
  const actual: Record<string, Outcome> = {};
  const expected: Record<string, Outcome> = {};
  for (const [courseIndex, courseId] of courseIds.entries()) {
    const reference = decideSequentially(
      sent.filter((request) => request.courseId === courseId),
      capacities[courseIndex],
    );
    for (const [key, outcome] of reference) {
      expected[key] = outcome;
      const { status, reason, waitlist_position } = (await http(baseUrl, 'GET', `/enrollments/${key}`)).body;
      actual[key] = { status, reason, waitlist_position };
    }
  }
  return { actual, expected };
}
