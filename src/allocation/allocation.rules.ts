import type { DecisionStatus, RejectionReason } from '../decisions/decision.entity.js';

/** What a student already holds in the course being decided. */
export type Hold = 'enrolled' | 'waitlisted';

interface CourseState {
  capacity: number;
  seatsTaken: number;
}

export interface PendingRequest {
  idempotencyKey: string;
  studentId: string;
}

interface RequestDecision {
  idempotencyKey: string;
  studentId: string;
  status: DecisionStatus;
  reason: RejectionReason | null;
}

interface BatchOutcome {
  decisions: RequestDecision[];
  seatsTaken: number;
}

const REJECTION_FOR_HOLD: Record<Hold, RejectionReason> = {
  enrolled: 'already_enrolled',
  waitlisted: 'already_waitlisted',
};

/**
 * Decides requests for one course, given in arbitration order: a student who already holds a place is
 * rejected; otherwise a free seat enrolls, and no free seat waitlists. Pure: the caller holds the row lock.
 */
export function decideBatch(
  course: CourseState,
  holds: ReadonlyMap<string, Hold>,
  requests: readonly PendingRequest[],
): BatchOutcome {
  const held = new Map(holds);
  let seatsTaken = course.seatsTaken;
  const decisions = requests.map(({ idempotencyKey, studentId }): RequestDecision => {
    const hold = held.get(studentId);
    if (hold) return { idempotencyKey, studentId, status: 'rejected', reason: REJECTION_FOR_HOLD[hold] };
    if (seatsTaken < course.capacity) {
      seatsTaken += 1;
      held.set(studentId, 'enrolled');
      return { idempotencyKey, studentId, status: 'enrolled', reason: null };
    }
    held.set(studentId, 'waitlisted');
    return { idempotencyKey, studentId, status: 'waitlisted', reason: null };
  });
  return { decisions, seatsTaken };
}

/** What the transaction read about one locked course before deciding. */
export interface LockedCourse extends CourseState {
  id: number;
  /** The last waitlist position in use (0 for an empty waitlist). */
  lastWaitlistPosition: number;
  /** What the job's students already hold in this course. */
  holds: ReadonlyMap<string, Hold>;
}

export interface JobRequest extends PendingRequest {
  courseId: number;
}

export interface JobDecision extends RequestDecision {
  courseId: number;
  /** The new waitlist entry's position, for a waitlisted request; null otherwise. */
  waitlistPosition: number | null;
}

/** A course's counters after the job: the new seats_taken, and how much the waitlist and decided count grew. */
export interface CounterChange {
  courseId: number;
  seatsTaken: number;
  waitlisted: number;
  decided: number;
}

interface JobOutcome {
  /** One per request, in the job's (arbitration) order. */
  decisions: JobDecision[];
  /** One per course that had requests. */
  counters: CounterChange[];
}

/**
 * Decides a job's requests, given in arbitration order, against the courses it locked: each course's
 * requests by decideBatch, waitlisted requests placed after the course's last position, in order. A request
 * for a course that does not exist (its row is gone) is rejected as course_not_found, so it still gets its
 * one decision without failing the other requests of the job. Pure.
 */
export function decideJob(courses: readonly LockedCourse[], requests: readonly JobRequest[]): JobOutcome {
  const decided = new Map<string, JobDecision>();
  const counters: CounterChange[] = [];
  for (const course of courses) {
    const forCourse = requests.filter((request) => request.courseId === course.id);
    if (forCourse.length === 0) continue;
    const outcome = decideBatch(course, course.holds, forCourse);
    let position = course.lastWaitlistPosition;
    for (const decision of outcome.decisions) {
      const waitlistPosition = decision.status === 'waitlisted' ? (position += 1) : null;
      decided.set(decision.idempotencyKey, { ...decision, courseId: course.id, waitlistPosition });
    }
    counters.push({
      courseId: course.id,
      seatsTaken: outcome.seatsTaken,
      waitlisted: position - course.lastWaitlistPosition,
      decided: outcome.decisions.length,
    });
  }
  const decisions = requests.map(
    (request): JobDecision =>
      decided.get(request.idempotencyKey) ?? {
        idempotencyKey: request.idempotencyKey,
        studentId: request.studentId,
        courseId: request.courseId,
        status: 'rejected',
        reason: 'course_not_found',
        waitlistPosition: null,
      },
  );
  return { decisions, counters };
}
