import type { Meeting } from './meeting.js';

// Guarantee 8 as pure rules: what a student's schedule allows, given what they hold now. The ledger calls
// them under the course rows' locks and the students' load rows' locks, so "now" cannot move.

export type OverrideKind = 'time_conflict' | 'max_credits' | 'max_waitlisted';
export const OVERRIDE_KINDS: readonly OverrideKind[] = ['time_conflict', 'max_credits', 'max_waitlisted'];

/** An operator's override as stored: an exception to one student's rules for one course. */
export interface OverrideRecord {
  id: string;
  studentId: string;
  courseId: number;
  kinds: OverrideKind[];
  expiresAt: Date | null;
  createdAt: Date;
}

/** Why a request is refused at its decision. */
export type ScheduleRejection = OverrideKind;
/** Why a waiting request cannot be promoted now (max_waitlisted never blocks a promotion). */
export type BlockedReason = 'time_conflict' | 'max_credits';

/** What the rules need of a course. */
export interface ScheduledCourse {
  id: number;
  credits: number;
  meetings: readonly Meeting[];
}

/** A student's load, limits and holdings, as read under their load row's lock. */
export interface StudentSchedule {
  studentId: string;
  /** The limits in force (the student's own, or the configured default); null: none. */
  creditLimit: number | null;
  waitlistLimit: number | null;
  enrolledCredits: number;
  waitlistedCount: number;
  excusedCredits: number;
  excusedWaitlists: number;
  /** The courses the student is enrolled in. */
  enrolled: readonly ScheduledCourse[];
  /** Unexpired overrides, by course id. */
  overrides: ReadonlyMap<number, ReadonlySet<OverrideKind>>;
}

const minutes = (time: string): number => Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));

/** Two meetings overlap when they share a day and one starts before the other ends (09:50 may follow 09:50). */
export function meetingsOverlap(a: Meeting, b: Meeting): boolean {
  if (![...a.days].some((day) => b.days.includes(day))) return false;
  return minutes(a.start) < minutes(b.end) && minutes(b.start) < minutes(a.end);
}

export function coursesOverlap(a: readonly Meeting[], b: readonly Meeting[]): boolean {
  return a.some((one) => b.some((other) => meetingsOverlap(one, other)));
}

const allows = (schedule: StudentSchedule, courseId: number, kind: OverrideKind): boolean =>
  schedule.overrides.get(courseId)?.has(kind) ?? false;

/** The course's meetings overlap one the student is enrolled in (no override). */
function conflicts(schedule: StudentSchedule, course: ScheduledCourse): boolean {
  if (course.meetings.length === 0 || allows(schedule, course.id, 'time_conflict')) return false;
  return schedule.enrolled.some(
    (held) => held.id !== course.id && coursesOverlap(held.meetings, course.meetings),
  );
}

/** Enrolling would take the credits past the limit (no override); a load equal to the limit is allowed. */
function overCredits(schedule: StudentSchedule, course: ScheduledCourse): boolean {
  if (course.credits === 0 || schedule.creditLimit === null) return false;
  if (allows(schedule, course.id, 'max_credits')) return false;
  return schedule.enrolledCredits + course.credits > schedule.creditLimit;
}

/**
 * The contract's decision of a request of this student for this course (they hold nothing in it): a time
 * conflict whether or not a seat is free; then, with a seat, the credit limit, and without one, the
 * waitlist limit. null: the request may take the seat (or the waitlist place).
 */
export function admission(
  schedule: StudentSchedule,
  course: ScheduledCourse,
  seatFree: boolean,
): ScheduleRejection | null {
  if (conflicts(schedule, course)) return 'time_conflict';
  if (seatFree) return overCredits(schedule, course) ? 'max_credits' : null;
  if (schedule.waitlistLimit === null || allows(schedule, course.id, 'max_waitlisted')) return null;
  return schedule.waitlistedCount >= schedule.waitlistLimit ? 'max_waitlisted' : null;
}

/** Why a waiting request of this student could not be promoted into this course now; null if it could. */
export function blockOf(schedule: StudentSchedule, course: ScheduledCourse): BlockedReason | null {
  if (conflicts(schedule, course)) return 'time_conflict';
  return overCredits(schedule, course) ? 'max_credits' : null;
}

/**
 * The excused part of a load after a change: an increase allowed by an exception may excuse what lies
 * beyond the limit; otherwise the excuse only shrinks with the load, never past what is above the limit
 * now. So `load - excused <= limit` (the load row's CHECK) holds after every change the rules allow.
 */
function excusedAfter(load: number, excused: number, limit: number | null, exception: boolean): number {
  const beyond = limit === null ? 0 : Math.max(load - limit, 0);
  return exception ? Math.max(excused, beyond) : Math.min(excused, beyond);
}

/** The student enrolled in the course (a decision or a promotion). */
export function enroll(
  schedule: StudentSchedule,
  course: ScheduledCourse,
  fromWaitlist: boolean,
): StudentSchedule {
  const enrolledCredits = schedule.enrolledCredits + course.credits;
  const waitlistedCount = schedule.waitlistedCount - (fromWaitlist ? 1 : 0);
  return {
    ...schedule,
    enrolled: [...schedule.enrolled, course],
    enrolledCredits,
    excusedCredits: excusedAfter(
      enrolledCredits,
      schedule.excusedCredits,
      schedule.creditLimit,
      allows(schedule, course.id, 'max_credits'),
    ),
    waitlistedCount,
    excusedWaitlists: excusedAfter(waitlistedCount, schedule.excusedWaitlists, schedule.waitlistLimit, false),
  };
}

/** The student joined a waitlist. */
export function joinWaitlist(schedule: StudentSchedule, courseId: number): StudentSchedule {
  const waitlistedCount = schedule.waitlistedCount + 1;
  return {
    ...schedule,
    waitlistedCount,
    excusedWaitlists: excusedAfter(
      waitlistedCount,
      schedule.excusedWaitlists,
      schedule.waitlistLimit,
      allows(schedule, courseId, 'max_waitlisted'),
    ),
  };
}

/** The student left a waitlist (a drop). */
export function leaveWaitlist(schedule: StudentSchedule): StudentSchedule {
  const waitlistedCount = schedule.waitlistedCount - 1;
  return {
    ...schedule,
    waitlistedCount,
    excusedWaitlists: excusedAfter(waitlistedCount, schedule.excusedWaitlists, schedule.waitlistLimit, false),
  };
}

/**
 * The student gave up their seat in the course (a drop). Given the course itself, its credits count even
 * when the schedule was read without its holdings.
 */
export function dropCourse(schedule: StudentSchedule, dropped: number | ScheduledCourse): StudentSchedule {
  const courseId = typeof dropped === 'number' ? dropped : dropped.id;
  const held =
    typeof dropped === 'number' ? schedule.enrolled.find((course) => course.id === courseId) : dropped;
  const enrolledCredits = schedule.enrolledCredits - (held?.credits ?? 0);
  return {
    ...schedule,
    enrolled: schedule.enrolled.filter((course) => course.id !== courseId),
    enrolledCredits,
    excusedCredits: excusedAfter(enrolledCredits, schedule.excusedCredits, schedule.creditLimit, false),
  };
}

/**
 * A change the student did not ask for and must not lose a place over: an enrolled course's credits
 * changed, or the limits in force changed (a new default). Whatever lies beyond the limit is excused.
 */
export function settle(
  schedule: StudentSchedule,
  changes: { creditLimit?: number | null; waitlistLimit?: number | null; course?: ScheduledCourse },
): StudentSchedule {
  const next = { ...schedule };
  if (changes.course) {
    const course = changes.course;
    const before = next.enrolled.find((held) => held.id === course.id);
    if (before) {
      next.enrolled = next.enrolled.map((held) => (held.id === course.id ? course : held));
      next.enrolledCredits += course.credits - before.credits;
    }
  }
  if (changes.creditLimit !== undefined) next.creditLimit = changes.creditLimit;
  if (changes.waitlistLimit !== undefined) next.waitlistLimit = changes.waitlistLimit;
  const beyond = (load: number, limit: number | null) => (limit === null ? 0 : Math.max(load - limit, 0));
  return {
    ...next,
    excusedCredits: beyond(next.enrolledCredits, next.creditLimit),
    excusedWaitlists: beyond(next.waitlistedCount, next.waitlistLimit),
  };
}

/** What a waiting request's swap gives up if it is promoted: the named request's course, and how it is held. */
export interface SwapTarget {
  course: ScheduledCourse;
  held: 'enrolled' | 'waitlisted';
}

/**
 * A schedule as a swap judges it (contract v3, Swap): the course the swap gives up does not count against
 * the course it asks for, when it is held as an enrollment (a waiting place holds no credits or meetings).
 */
export function withoutSwapped(schedule: StudentSchedule, target: SwapTarget | null): StudentSchedule {
  return target?.held === 'enrolled' ? dropCourse(schedule, target.course) : schedule;
}

/**
 * The schedule after a swap's request took its seat: enrolled in `course` (from its waitlist, or at its
 * decision), the named request's seat or waiting place given up. Judged on withoutSwapped, so guarantee 8
 * holds after the swap.
 */
export function swapInto(
  schedule: StudentSchedule,
  course: ScheduledCourse,
  target: SwapTarget | null,
  fromWaitlist: boolean,
): StudentSchedule {
  const enrolled = enroll(withoutSwapped(schedule, target), course, fromWaitlist);
  return target?.held === 'waitlisted' ? leaveWaitlist(enrolled) : enrolled;
}

/**
 * Skip-and-keep (guarantee 6 with guarantee 8): up to `seats` waiting requests, taken in waitlist order,
 * each promoted if its student's schedule allows the course now (less what its swap gives up, if it has
 * one: `swapOf`); a blocked one is passed over and keeps its place. `schedules` holds every candidate's
 * schedule and is updated in place as each is promoted, so a student's promotion here counts against
 * their later candidacies. Returns the promoted entries, in order.
 */
export function choosePromotions<Entry extends { studentId: string }>(
  course: ScheduledCourse,
  seats: number,
  waiting: readonly Entry[],
  schedules: Map<string, StudentSchedule>,
  swapOf: (entry: Entry) => SwapTarget | null = () => null,
): Entry[] {
  const promoted: Entry[] = [];
  for (const entry of waiting) {
    if (promoted.length >= seats) break;
    const schedule = schedules.get(entry.studentId);
    if (!schedule) throw new Error(`no schedule for student ${entry.studentId}`);
    const target = swapOf(entry);
    if (blockOf(withoutSwapped(schedule, target), course) !== null) continue;
    schedules.set(entry.studentId, swapInto(schedule, course, target, true));
    promoted.push(entry);
  }
  return promoted;
}
