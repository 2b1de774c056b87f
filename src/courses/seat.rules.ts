import type { DecisionStatus, RejectionReason } from '../decisions/decision.entity.js';
import {
  admission,
  enroll,
  joinWaitlist,
  type ScheduledCourse,
  type StudentSchedule,
} from '../schedules/schedule.rules.js';

/** What a student already holds in the course being decided. */
export type Hold = 'enrolled' | 'waitlisted';

interface CourseState {
  capacity: number;
  seatsTaken: number;
  /** Seats held for offers (offer mode): no new request takes one. */
  seatsHeld?: number;
}

export interface PendingRequest {
  idempotencyKey: string;
  studentId: string;
}

/** What deciding a queued request can make of it. */
export type Verdict = Extract<DecisionStatus, 'enrolled' | 'waitlisted' | 'rejected'>;

interface RequestDecision {
  idempotencyKey: string;
  studentId: string;
  status: Verdict;
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
 * rejected; then the student's schedule (guarantee 8: time conflicts, credits, waitlists) may refuse it;
 * otherwise a free seat enrolls, and no free seat waitlists. `schedules` holds the locked schedule of
 * every student without a hold here and is updated in place as requests are decided; a student missing
 * from it has no limits and no conflicts to check (the caller knows none can apply). Pure otherwise: the
 * caller holds the course row's lock and the load rows' locks.
 */
export function decideBatch(
  course: CourseState & Partial<ScheduledCourse>,
  holds: ReadonlyMap<string, Hold>,
  requests: readonly PendingRequest[],
  schedules: Map<string, StudentSchedule> = new Map(),
): BatchOutcome {
  const held = new Map(holds);
  const scheduled: ScheduledCourse = {
    id: course.id ?? 0,
    credits: course.credits ?? 0,
    meetings: course.meetings ?? [],
  };
  let seatsTaken = course.seatsTaken;
  const decisions = requests.map(({ idempotencyKey, studentId }): RequestDecision => {
    const hold = held.get(studentId);
    if (hold) return { idempotencyKey, studentId, status: 'rejected', reason: REJECTION_FOR_HOLD[hold] };
    const seatFree = seatsTaken + (course.seatsHeld ?? 0) < course.capacity;
    const schedule = schedules.get(studentId);
    const refused = schedule ? admission(schedule, scheduled, seatFree) : null;
    if (refused) return { idempotencyKey, studentId, status: 'rejected', reason: refused };
    if (seatFree) {
      seatsTaken += 1;
      held.set(studentId, 'enrolled');
      if (schedule) schedules.set(studentId, enroll(schedule, scheduled, false));
      return { idempotencyKey, studentId, status: 'enrolled', reason: null };
    }
    held.set(studentId, 'waitlisted');
    if (schedule) schedules.set(studentId, joinWaitlist(schedule, scheduled.id));
    return { idempotencyKey, studentId, status: 'waitlisted', reason: null };
  });
  return { decisions, seatsTaken };
}

/** A course's seat and waitlist counters, as its locked row holds them. */
export interface CourseCounters {
  capacity: number;
  seatsTaken: number;
  /** Seats held for offered requests: neither free nor taken. */
  seatsHeld: number;
  /** How many requests have left the head of the waitlist; an entry's place is its position minus this. */
  waitlistOffset: number;
  waitlistLength: number;
  /** The course's last event sequence number. */
  eventsWritten: number;
}

/** What the transaction read about one locked course before deciding. */
export interface LockedCourse extends CourseCounters, Partial<Omit<ScheduledCourse, 'id'>> {
  id: number;
  /** What the job's students already hold in this course. */
  holds: ReadonlyMap<string, Hold>;
}

export interface JobRequest extends PendingRequest {
  courseId: number;
}

export interface JobDecision extends RequestDecision {
  courseId: number;
  /** The new waitlist entry's stored position, for a waitlisted request; null otherwise. */
  waitlistPosition: number | null;
  /** Its place in the waitlist (1-based) right after the decision; null unless waitlisted. */
  waitlistPlace: number | null;
  /** The sequence number of the decision's event in its course; null for a course that does not exist. */
  seq: number | null;
}

/** A course's counters after the job: the new seats_taken, and how much the waitlist, decisions and events grew. */
export interface CounterChange {
  courseId: number;
  seatsTaken: number;
  waitlisted: number;
  decided: number;
  eventsWritten: number;
}

interface JobOutcome {
  /** One per request, in the job's (arbitration) order. */
  decisions: JobDecision[];
  /** One per course that had requests. */
  counters: CounterChange[];
}

/**
 * Decides a job's requests, given in arbitration order, against the courses it locked: each course's
 * requests by decideBatch, waitlisted requests appended at the tail of its waitlist, in order, and each
 * decision numbered as the course's next event. A request for a course that does not exist (its row is
 * gone) is rejected as course_not_found, so it still gets its one decision without failing the other
 * requests of the job. Pure.
 */
export function decideJob(
  courses: readonly LockedCourse[],
  requests: readonly JobRequest[],
  schedules: Map<string, StudentSchedule> = new Map(),
): JobOutcome {
  const decided = new Map<string, JobDecision>();
  const counters: CounterChange[] = [];
  for (const course of courses) {
    const forCourse = requests.filter((request) => request.courseId === course.id);
    if (forCourse.length === 0) continue;
    const outcome = decideBatch(course, course.holds, forCourse, schedules);
    let waitlisted = 0;
    let seq = course.eventsWritten;
    for (const decision of outcome.decisions) {
      const place = decision.status === 'waitlisted' ? course.waitlistLength + (waitlisted += 1) : null;
      decided.set(decision.idempotencyKey, {
        ...decision,
        courseId: course.id,
        waitlistPosition: place === null ? null : course.waitlistOffset + place,
        waitlistPlace: place,
        seq: (seq += 1),
      });
    }
    counters.push({
      courseId: course.id,
      seatsTaken: outcome.seatsTaken,
      waitlisted,
      decided: outcome.decisions.length,
      eventsWritten: seq,
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
        waitlistPlace: null,
        seq: null,
      },
  );
  return { decisions, counters };
}

// The lifecycle after a decision: drops, cancellations, promotions and capacity changes. Each is a pure
// plan over the course's counters; the transaction applies it to the rows under the course row lock.

/** A request's state as a withdrawal finds it. */
export type WithdrawnFrom = 'queued' | DecisionStatus;

/**
 * What withdrawing a request does: a queued request is cancelled (its one decision), an enrolled one frees
 * its seat, a waitlisted one leaves the list; a request already withdrawn stays as it is, and a rejected
 * one holds nothing to withdraw.
 */
export type Withdrawal = 'cancel' | 'drop_seat' | 'leave_waitlist' | 'decline' | 'unchanged' | 'refused';

export function withdrawalOf(state: WithdrawnFrom): Withdrawal {
  const withdrawals: Record<WithdrawnFrom, Withdrawal> = {
    queued: 'cancel',
    enrolled: 'drop_seat',
    waitlisted: 'leave_waitlist',
    offered: 'decline',
    dropped: 'unchanged',
    cancelled: 'unchanged',
    rejected: 'refused',
  };
  return withdrawals[state];
}

/**
 * How an entry leaving the middle of a waitlist keeps positions dense: the entries ahead of it move back
 * one place in storage while the offset grows by one (`ahead`), or the entries behind it move forward one
 * (`behind`), whichever run is shorter; leaving the head only moves the offset (`none`). Either way every
 * entry behind it is one place nearer the head, and nobody ahead of it moves.
 */
export type WaitlistShift = 'none' | 'ahead' | 'behind';

export interface WaitlistDeparture {
  course: CourseCounters;
  shift: WaitlistShift;
  /** The departing entry's place (1-based) before it left. */
  place: number;
}

export function leaveWaitlist(course: CourseCounters, position: number): WaitlistDeparture {
  const place = position - course.waitlistOffset;
  if (place < 1 || place > course.waitlistLength) {
    throw new Error(`position ${position} is not in the waitlist (${describeWaitlist(course)})`);
  }
  const ahead = place - 1;
  const behind = course.waitlistLength - place;
  const shift: WaitlistShift = ahead === 0 ? 'none' : ahead <= behind ? 'ahead' : 'behind';
  return {
    course: {
      ...course,
      waitlistLength: course.waitlistLength - 1,
      waitlistOffset: shift === 'behind' ? course.waitlistOffset : course.waitlistOffset + 1,
    },
    shift,
    place,
  };
}

/** A seat given back by an enrolled request. */
export function freeSeat(course: CourseCounters): CourseCounters {
  if (course.seatsTaken < 1) throw new Error('no seat is taken');
  return { ...course, seatsTaken: course.seatsTaken - 1 };
}

/** How many seats are free for the waitlist: neither taken nor held for an offer. */
export function freeSeats(course: CourseCounters): number {
  return Math.max(course.capacity - course.seatsTaken - course.seatsHeld, 0);
}

/**
 * The counters after `count` waiting requests were offered the free seats (offer mode): each leaves the
 * waitlist (its place given up) and holds a seat until it is accepted, declined or expires.
 */
export function offerSeats(course: CourseCounters, count: number): CourseCounters {
  if (count > freeSeats(course) || count > course.waitlistLength) {
    throw new Error(`cannot offer ${count} seats (${describeWaitlist(course)}, ${freeSeats(course)} free)`);
  }
  return { ...departEntries(course, count), seatsHeld: course.seatsHeld + count };
}

/** An offer accepted: its held seat becomes taken. */
export function acceptOffer(course: CourseCounters): CourseCounters {
  if (course.seatsHeld < 1) throw new Error('no seat is held');
  return { ...course, seatsHeld: course.seatsHeld - 1, seatsTaken: course.seatsTaken + 1 };
}

/** An offer declined or expired: its held seat is free again. */
export function releaseOffer(course: CourseCounters): CourseCounters {
  if (course.seatsHeld < 1) throw new Error('no seat is held');
  return { ...course, seatsHeld: course.seatsHeld - 1 };
}

/**
 * The counters after `count` waiting requests were promoted (guarantee 6, skip-and-keep): each takes a
 * seat and leaves the waitlist, and the offset grows by the count. The entries passed over (blocked) keep
 * their places: the ledger moves each back by the number of promoted entries behind it, so their places,
 * position minus the new offset, stay what they were less the promoted entries ahead of them.
 */
export function promoteEntries(course: CourseCounters, count: number): CourseCounters {
  if (count > freeSeats(course) || count > course.waitlistLength) {
    throw new Error(`cannot promote ${count} (${describeWaitlist(course)}, ${freeSeats(course)} free)`);
  }
  return {
    ...course,
    seatsTaken: course.seatsTaken + count,
    waitlistOffset: course.waitlistOffset + count,
    waitlistLength: course.waitlistLength - count,
  };
}

/**
 * The counters after `count` waiting requests left the waitlist together with a promotion's (a swap gave
 * their places up): the offset grows by the count and the entries passed over move back, as for
 * promoted entries (the ledger shifts both in one statement).
 */
export function departEntries(course: CourseCounters, count: number): CourseCounters {
  if (count > course.waitlistLength) {
    throw new Error(`cannot remove ${count} waiting entries (${describeWaitlist(course)})`);
  }
  return {
    ...course,
    waitlistOffset: course.waitlistOffset + count,
    waitlistLength: course.waitlistLength - count,
  };
}

export interface Promotion {
  course: CourseCounters;
  /** Heads promoted, in waitlist order: stored positions firstPosition .. firstPosition + count - 1. */
  count: number;
  firstPosition: number;
}

/**
 * docs/guarantees.md §6 when nobody waiting is blocked: each free seat goes to the waitlist's head, in
 * order, while the waitlist lasts.
 */
export function promote(course: CourseCounters): Promotion {
  const count = Math.min(freeSeats(course), course.waitlistLength);
  return { course: promoteEntries(course, count), count, firstPosition: course.waitlistOffset + 1 };
}

/** A new capacity, or null when it is below the seats taken and held (nobody loses a seat to a capacity change). */
export function changeCapacity(course: CourseCounters, capacity: number): CourseCounters | null {
  if (capacity < course.seatsTaken + course.seatsHeld) return null;
  return { ...course, capacity };
}

function describeWaitlist(course: CourseCounters): string {
  return `offset ${course.waitlistOffset}, length ${course.waitlistLength}`;
}
