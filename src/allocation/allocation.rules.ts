import type { DecisionStatus, RejectionReason } from '../decisions/decision.entity.js';

/** What a student already holds in the course being decided. */
export type Hold = 'enrolled' | 'waitlisted';

export interface CourseState {
  capacity: number;
  seatsTaken: number;
}

export interface PendingRequest {
  idempotencyKey: string;
  studentId: string;
}

export interface RequestDecision {
  idempotencyKey: string;
  studentId: string;
  status: DecisionStatus;
  reason: RejectionReason | null;
}

export interface BatchOutcome {
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
