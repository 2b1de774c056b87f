import type { EntityManager } from 'typeorm';
import type { DropReason } from '../decisions/decision.entity.js';
import type { ScheduleBook } from '../schedules/schedule-book.js';
import {
  blockOf,
  choosePromotions,
  type ScheduledCourse,
  type SwapTarget,
  withoutSwapped,
} from '../schedules/schedule.rules.js';
import { writeLoads } from '../schedules/schedule.statements.js';
import type { Course } from './course.entity.js';
import {
  type CourseChangeWrite,
  countersOf,
  type NewEvent,
  readWaiting,
  type WaitingEntry,
  writeChange,
} from './ledger.statements.js';
import { acceptOffer, type CourseCounters, freeSeat, freeSeats, releaseOffer } from './seat.rules.js';

/** The courses a change involves grew while it waited for their locks: start again with the larger set. */
export class InvolvementChanged extends Error {
  constructor(readonly courseIds: number[]) {
    super(`the change now involves courses ${courseIds.join(', ')}`);
  }
}

/** A course as the schedule rules see it. */
export const scheduledCourse = (course: Course): ScheduledCourse => ({
  id: course.id,
  credits: course.credits,
  meetings: course.meetings,
});

/** No meetings and no credits: no schedule can block a promotion into this course. */
export const nobodyBlockedIn = (course: Course): boolean =>
  course.meetings.length === 0 && course.credits === 0;

/** The plan's mutable parts: what writeChange will write for the course. */
interface PlannedWrite extends CourseChangeWrite {
  events: NewEvent[];
  drops: Array<{ idempotencyKey: string; reason: DropReason | null }>;
  promoted: number[];
  departed: number[];
  offered: number[];
  accepted: string[];
}

/** One course's part of a change: its counters before the write (freed seats applied), and its write. */
export interface CoursePlan {
  course: Course;
  counters: CourseCounters;
  write: PlannedWrite;
}

/** What this transaction has planned for a request, over what the rows still say. */
type Planned = { state: 'promoted' | 'offered'; courseId: number; position: number } | { state: 'dropped' };

/** A swap's named request as a promotion finds it: held in a course, or gone (null). */
interface HeldTarget {
  idempotencyKey: string;
  studentId: string;
  courseId: number;
  held: 'enrolled' | 'waitlisted' | 'offered';
  /** Its waiting place (stored position), or, if this transaction promoted it, the place it was promoted from. */
  position: number | null;
  /** Promoted, or offered a seat, by this transaction (not written yet). */
  promotedHere: boolean;
  offeredHere?: boolean;
}

/**
 * One ledger transaction's plans over the courses it locked: drops, freed seats, promotions (guarantee 6,
 * skip-and-keep) and swaps (contract v3), then one write per course. A promoted request with a swap gives
 * up the request it names in the same transaction (guarantee 8: never both, never neither); the seat that
 * frees goes on to that course's waitlist, and so on along a chain of swaps. A swap whose named request
 * lies in a course this transaction has not locked stops the plan (InvolvementChanged): the ledger starts
 * over with that course locked too, so every lock is still taken in one statement, in id order.
 */
export class ChangeSet {
  private readonly plans = new Map<number, CoursePlan>();
  private readonly planned = new Map<string, Planned>();
  private readonly toFill = new Set<number>();

  constructor(
    private readonly manager: EntityManager,
    private readonly book: ScheduleBook,
    locked: readonly Course[],
  ) {
    for (const course of locked) {
      this.plans.set(course.id, {
        course,
        counters: countersOf(course),
        write: {
          events: [],
          decided: 0,
          drops: [],
          promoted: [],
          departed: [],
          offered: [],
          accepted: [],
          offerTtlSeconds: course.offerTtlS,
        },
      });
    }
  }

  /** The plan of a locked course. */
  plan(courseId: number): CoursePlan {
    const plan = this.plans.get(courseId);
    if (!plan) throw new Error(`course ${courseId} is not locked in this transaction`);
    return plan;
  }

  /** An enrolled request dropped: its seat frees, and the course's waitlist is to be filled. */
  dropSeat(courseId: number, idempotencyKey: string, studentId: string): void {
    const plan = this.plan(courseId);
    plan.counters = freeSeat(plan.counters);
    this.recordDrop(plan, idempotencyKey, studentId, null);
    this.toFill.add(courseId);
  }

  /** A request already out of the waitlist's rows (the caller shifted them) recorded as dropped. */
  droppedFromWaitlist(
    courseId: number,
    counters: CourseCounters,
    idempotencyKey: string,
    studentId: string,
  ): void {
    const plan = this.plan(courseId);
    plan.counters = counters;
    this.recordDrop(plan, idempotencyKey, studentId, null);
  }

  /** An offered request let go (declined, or its deadline passed): its held seat is free again. */
  releaseOffer(
    courseId: number,
    idempotencyKey: string,
    studentId: string,
    reason: 'declined' | 'offer_expired',
  ): void {
    const plan = this.plan(courseId);
    plan.counters = releaseOffer(plan.counters);
    this.recordDrop(
      plan,
      idempotencyKey,
      studentId,
      reason,
      reason === 'offer_expired' ? 'offer_expired' : 'dropped',
    );
    this.toFill.add(courseId);
  }

  /** An offered request enrolled (an accept, or the switch to auto): its held seat becomes taken. */
  acceptOffer(courseId: number, idempotencyKey: string, studentId: string): void {
    const plan = this.plan(courseId);
    plan.counters = acceptOffer(plan.counters);
    plan.write.accepted.push(idempotencyKey);
    plan.write.events.push({ type: 'promoted', idempotencyKey, studentId, status: 'enrolled' });
  }

  /** The request a swap names given up, as it stands (enrolled, waiting or offered), in its own course. */
  giveUp(named: {
    idempotencyKey: string;
    studentId: string;
    courseId: number;
    status: 'enrolled' | 'waitlisted' | 'offered';
    position: number | null;
  }): Promise<void> {
    return this.swapOut({ ...named, held: named.status, promotedHere: false });
  }

  /** Marks courses whose free seats may now go to their waitlists (a capacity raise, a lifted block). */
  mayFill(courseIds: Iterable<number>): void {
    for (const id of courseIds) this.toFill.add(id);
  }

  /**
   * Fills every course marked, until none is: each free seat to the first waiting request that may take it
   * (with its swap carried out), in waitlist order. `alsoLock` students' load rows are locked with the first
   * candidates (one statement, in student order).
   */
  async fill(alsoLock: readonly string[] = []): Promise<void> {
    while (this.toFill.size > 0) {
      const [courseId] = this.toFill;
      this.toFill.delete(courseId);
      await this.fillCourse(this.plan(courseId), alsoLock);
    }
    await this.book.lock(alsoLock);
  }

  /** Writes each course's plan (one statement each; the load rows go with the last); returns their times. */
  async write(): Promise<Date[]> {
    const plans = [...this.plans.values()];
    const times: Date[] = [];
    for (const [index, plan] of plans.entries()) {
      const last = index === plans.length - 1;
      const { write } = plan;
      const idle =
        write.events.length === 0 &&
        write.drops.length === 0 &&
        write.promoted.length === 0 &&
        write.offered.length === 0 &&
        write.decided === 0;
      if (idle && !last) continue;
      times.push(
        await writeChange(this.manager, plan.course.id, plan.counters, {
          ...write,
          loads: last ? this.book.writes() : [],
        }),
      );
    }
    if (plans.length === 0) await writeLoads(this.manager, this.book.writes());
    return times;
  }

  /**
   * Promotes into one course while a seat is free: the waitlist walked from the head (past what this
   * transaction removed already), each waiting request its student's schedule allows now promoted, a
   * blocked one passed over. Candidates are judged first on a read without locks (a block can only lift
   * under this course's lock, which is held), then their load rows are locked and judged again.
   */
  private async fillCourse(plan: CoursePlan, alsoLock: readonly string[]): Promise<void> {
    const course = scheduledCourse(plan.course);
    const nobodyBlocked = nobodyBlockedIn(plan.course);
    const offering = plan.course.waitlistMode === 'offer';
    let after = plan.counters.waitlistOffset;
    for (;;) {
      const removed = new Set([...plan.write.promoted, ...plan.write.departed, ...plan.write.offered]);
      const seats = freeSeats(plan.counters) - plan.write.promoted.length - plan.write.offered.length;
      const waiting = plan.counters.waitlistLength - removed.size;
      const wanted = Math.min(seats, waiting);
      if (wanted <= 0) return;
      const chunk = await readWaiting(
        this.manager,
        course.id,
        after,
        nobodyBlocked ? wanted : Math.max(wanted * 2, 16),
      );
      if (chunk.length === 0) return;
      after = chunk[chunk.length - 1].position;
      const entries = chunk.filter((entry) => !removed.has(entry.position));
      const targets = new Map(entries.map((entry) => [entry.idempotencyKey, this.targetOf(entry)]));
      const missing = [...targets.values()]
        .filter((target) => target !== null && !this.plans.has(target.courseId))
        .map((target) => target!.courseId);
      if (missing.length > 0) throw new InvolvementChanged([...new Set(missing)]);
      const swapOf = (entry: WaitingEntry): SwapTarget | null => {
        const target = targets.get(entry.idempotencyKey);
        if (!target) return null;
        // An offered request holds no seat: as a schedule sees it, it still waits.
        const held = target.held === 'enrolled' ? 'enrolled' : 'waitlisted';
        return { course: scheduledCourse(this.plan(target.courseId).course), held };
      };
      let candidates = entries;
      if (!nobodyBlocked) {
        const peeked = await this.book.peek(entries.map((entry) => entry.studentId));
        candidates = entries.filter(
          (entry) => blockOf(withoutSwapped(peeked.get(entry.studentId)!, swapOf(entry)), course) === null,
        );
      }
      await this.book.lock([...candidates.map((entry) => entry.studentId), ...alsoLock]);
      const schedules = this.book.schedules();
      const promoted = choosePromotions(course, wanted, candidates, schedules, swapOf);
      if (offering) {
        // Offer mode: the seat is held for them; their schedules change (and their swaps happen) on accept.
        for (const entry of promoted) {
          plan.write.offered.push(entry.position);
          this.planned.set(entry.idempotencyKey, {
            state: 'offered',
            courseId: course.id,
            position: entry.position,
          });
        }
        continue;
      }
      this.book.update(schedules);
      for (const entry of promoted) {
        plan.write.promoted.push(entry.position);
        this.planned.set(entry.idempotencyKey, {
          state: 'promoted',
          courseId: course.id,
          position: entry.position,
        });
        const target = targets.get(entry.idempotencyKey);
        if (target) await this.swapOut(target);
      }
    }
  }

  /** The request a waiting entry's swap names, as this transaction sees it; null when none is held. */
  private targetOf(entry: WaitingEntry): HeldTarget | null {
    if (!entry.swapFor) return null;
    const planned = this.planned.get(entry.swapFor);
    const base = { idempotencyKey: entry.swapFor, studentId: entry.studentId };
    if (planned?.state === 'dropped') return null;
    if (planned?.state === 'offered') {
      return {
        ...base,
        courseId: planned.courseId,
        held: 'offered',
        position: planned.position,
        promotedHere: false,
        offeredHere: true,
      };
    }
    if (planned?.state === 'promoted') {
      return {
        ...base,
        courseId: planned.courseId,
        held: 'enrolled',
        position: planned.position,
        promotedHere: true,
      };
    }
    if (
      entry.targetStatus !== 'enrolled' &&
      entry.targetStatus !== 'waitlisted' &&
      entry.targetStatus !== 'offered'
    ) {
      return null;
    }
    return {
      ...base,
      courseId: entry.targetCourseId!,
      held: entry.targetStatus,
      position: entry.targetPosition,
      promotedHere: false,
    };
  }

  /**
   * A swap's named request given up, in its own course's plan: a seat frees (and is filled in turn), or a
   * waiting place goes. A request this transaction had promoted is taken back out of the promotions: it
   * leaves as a waiting place would, and its seat is free again.
   */
  private async swapOut(target: HeldTarget): Promise<void> {
    const plan = this.plan(target.courseId);
    if (target.offeredHere) {
      plan.write.offered = plan.write.offered.filter((position) => position !== target.position);
      plan.write.departed.push(target.position!);
      this.toFill.add(target.courseId);
    } else if (target.promotedHere) {
      plan.write.promoted = plan.write.promoted.filter((position) => position !== target.position);
      plan.write.departed.push(target.position!);
      this.toFill.add(target.courseId);
    } else if (target.held === 'offered') {
      plan.counters = releaseOffer(plan.counters);
      this.toFill.add(target.courseId);
    } else if (target.held === 'enrolled') {
      plan.counters = freeSeat(plan.counters);
      this.toFill.add(target.courseId);
    } else {
      plan.write.departed.push(target.position!);
    }
    this.recordDrop(plan, target.idempotencyKey, target.studentId, 'swapped');
    // A seat (with its meetings and credits) given up may lift its student's blocks on the courses they
    // wait on: those are filled too, and must be locked.
    if (target.held === 'enrolled' && !nobodyBlockedIn(plan.course)) {
      const rows: Array<{ course_id: number }> = await this.manager.query(
        'SELECT course_id FROM waitlist_entries WHERE student_id = $1',
        [target.studentId],
      );
      const waitingOn = rows.map((row) => row.course_id);
      const missing = waitingOn.filter((id) => !this.plans.has(id));
      if (missing.length > 0) throw new InvolvementChanged(missing);
      this.mayFill(waitingOn);
    }
  }

  /**
   * A drop planned in this transaction: written with the plan, and from now on the request is gone for
   * every later step (a swap naming it finds nothing to give up).
   */
  private recordDrop(
    plan: CoursePlan,
    idempotencyKey: string,
    studentId: string,
    reason: DropReason | null,
    type: 'dropped' | 'offer_expired' = 'dropped',
  ): void {
    this.planned.set(idempotencyKey, { state: 'dropped' });
    plan.write.drops.push({ idempotencyKey, reason });
    plan.write.events.push({
      type,
      idempotencyKey,
      studentId,
      status: 'dropped',
      ...(reason ? { reason } : {}),
    });
  }
}
