import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, type EntityManager, In, QueryFailedError, type Repository } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { sqlStateOf } from '../database/database-errors.js';
import { type DecidedRequest, DecisionsService } from '../decisions/decisions.service.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import type { Meeting } from '../schedules/meeting.js';
import { ScheduleBook } from '../schedules/schedule-book.js';
import {
  blockOf,
  dropCourse,
  joinWaitlist,
  leaveWaitlist,
  type OverrideRecord,
  type StudentSchedule,
  settle,
  type SwapTarget,
  swapInto,
  withoutSwapped,
} from '../schedules/schedule.rules.js';
import type { ScheduleDefaults } from '../schedules/schedule.statements.js';
import { ChangeSet, InvolvementChanged, nobodyBlockedIn, scheduledCourse } from './change-set.js';
import { Course, type WaitlistMode } from './course.entity.js';
import { assertWindowOrder } from './course-window.js';
import { assertDrawSettings, drawChange, drawOrder, drawPeriodOf, seedDigest } from './opening-draw.rules.js';
import type { DrawnEntry } from './course-draw.entity.js';
import {
  countersOf,
  insertApiDecision,
  type LedgerDecision,
  type NewEvent,
  readBatchState,
  readRequestState,
  type RequestState,
  removeFromWaitlist,
  writeChange,
  writeDecisions,
} from './ledger.statements.js';
import {
  changeCapacity,
  type CounterChange,
  decideJob,
  freeSeats,
  type JobDecision,
  withdrawalOf,
} from './seat.rules.js';

export type { LedgerDecision, NewEvent, RequestState } from './ledger.statements.js';

const UNIQUE_VIOLATION = '23505';
/** A deadlock PostgreSQL broke, or a serialization failure: the transaction is tried again from the start. */
const RETRIED_SQLSTATES = new Set(['40P01', '40001']);
const TRANSACTION_ATTEMPTS = 8;
/** How often the set of courses a change involves may grow under our feet before we give up (a 503-like 500). */
const INVOLVEMENT_ATTEMPTS = 20;

/** A request as the ledger decides or withdraws it: what its claim or decision says of it. */
export interface LedgerRequest {
  idempotencyKey: string;
  studentId: string;
  courseId: number;
  priority: number;
  requestedAt: string;
  /** A swap (contract v3): the request of the same student this one replaces if it gets its seat. */
  swapFor?: string;
  /** A draw entry's place in its course's opening draw (contract v3). */
  drawRank?: number;
}

/**
 * A request of a course whose opening draw is due but not carried out: the draw's entries go first
 * (guarantee 4), so whoever decides the request carries the draw out (OpeningDraw) and tries again.
 */
export class DrawPending extends Error {
  constructor(readonly courseIds: readonly number[]) {
    super(`the opening draw of course ${courseIds.join(', ')} is due and not carried out yet`);
    this.name = 'DrawPending';
  }
}

/** A new course's fields, validated. */
export interface NewCourse {
  code: string;
  title: string;
  capacity: number;
  opensAt: Date | null;
  closesAt: Date | null;
  credits: number;
  meetings: Meeting[];
  waitlistMode: WaitlistMode;
  offerTtlS: number;
  drawWindowS: number;
  prequeueS: number;
}

/** What PATCH /courses/:id may change; undefined leaves a field as it is, null clears a window side. */
export interface CourseChanges {
  title?: string;
  capacity?: number;
  opensAt?: Date | null;
  closesAt?: Date | null;
  credits?: number;
  meetings?: Meeting[];
  waitlistMode?: WaitlistMode;
  offerTtlS?: number;
  drawWindowS?: number;
  prequeueS?: number;
}

/** A student's own limits (null: the configured default). */
export interface StudentLimits {
  maxCredits: number | null;
  maxWaitlisted: number | null;
}

/** An override as stored. */
export type OverrideRow = OverrideRecord;

/**
 * The course ledger: the one owner of the course row and of every write to it — deciding a batch, a
 * withdrawal, a course edit, promotion, a student's limits and overrides, and the events they record.
 * Each write follows one shape: take the course rows' locks (in id order), then the students' load rows'
 * locks (in student id order: the one global order, so two transactions never wait on each other in a
 * circle; a deadlock PostgreSQL still finds is retried), read what the plan needs, plan with the pure
 * seat and schedule rules, then write the plan, one statement per course. Everything that changes seats,
 * a waitlist or a student's load happens under those locks, which is what keeps seats_taken <= capacity,
 * guarantee 6 and guarantee 8 (docs/guarantees.md) under races between the workers and the API.
 */
@Injectable()
export class CourseLedger {
  private readonly logger = new Logger(CourseLedger.name);
  private readonly defaults: ScheduleDefaults;
  /** How long before its period a draw must be settled (the API processes' course cache). */
  private readonly drawLeadMs: number;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @InjectRepository(Course) private readonly courses: Repository<Course>,
    @Inject(DecisionsService) private readonly decisions: DecisionsService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.defaults = config.schedule;
    this.drawLeadMs = config.courseCacheTtlMs;
  }

  /**
   * Takes the write locks of the courses' rows inside a transaction, in id order, and returns the rows of
   * the courses that exist.
   */
  lock(manager: EntityManager, ids: readonly number[]): Promise<Course[]> {
    return manager.find(Course, {
      where: { id: In([...new Set(ids)]) },
      order: { id: 'ASC' },
      lock: { mode: 'pessimistic_write' },
    });
  }

  async create(course: NewCourse): Promise<Course> {
    assertWindowOrder(course.opensAt, course.closesAt);
    assertDrawSettings(course);
    try {
      return await this.dataSource.transaction(async (manager) => {
        const created = await manager.save(
          manager.create(Course, { ...course, drawPending: drawPeriodOf(course) !== null }),
        );
        if (created.drawPending) await this.reseedDraw(manager, created.id);
        return created;
      });
    } catch (error) {
      if (
        error instanceof QueryFailedError &&
        (error.driverError as { code?: string }).code === UNIQUE_VIOLATION
      ) {
        throw new DomainError(DomainErrorCode.CourseCodeTaken, await this.codeTakenMessage(course.code));
      }
      throw error;
    }
  }

  /**
   * A new seed for the course's draw (contract v3): 32 random bytes as hex, its SHA-256 published from now
   * on; the seed itself is shown once the draw is made.
   */
  private async reseedDraw(manager: EntityManager, courseId: number): Promise<void> {
    const seed = randomBytes(32).toString('hex');
    await manager.query(
      `INSERT INTO course_draws (course_id, seed, seed_sha256) VALUES ($1, $2, $3)
       ON CONFLICT (course_id) DO UPDATE SET seed = $2, seed_sha256 = $3, drawn_at = NULL, entries = NULL`,
      [courseId, seed, seedDigest(seed)],
    );
  }

  /**
   * Decides requests given in arbitration order: runs of plain requests in one transaction each (decidePlain),
   * and each request with a swap alone, in its own transaction over its course and the named request's
   * (decideSwap), in its place in the order. onLocked is called once, when the first transaction holds its
   * course locks. Requests decided already (a redelivery, a cancellation) are skipped; returns only the
   * decisions made here. What committed stays decided if a later transaction fails: the caller's retry
   * skips it.
   */
  async decide(
    requests: readonly LedgerRequest[],
    onLocked: () => void = () => undefined,
    drawing?: number,
  ): Promise<LedgerDecision[]> {
    if (!requests.some((request) => request.swapFor !== undefined))
      return this.decidePlain(requests, onLocked, drawing);
    let locked = false;
    const once = () => {
      if (!locked) onLocked();
      locked = true;
    };
    const decisions: LedgerDecision[] = [];
    let run: LedgerRequest[] = [];
    for (const request of [...requests, null]) {
      if (request && request.swapFor === undefined) {
        run.push(request);
        continue;
      }
      if (run.length > 0) decisions.push(...(await this.decidePlain(run, once, drawing)));
      run = [];
      if (request) decisions.push(...(await this.decideSwap(request, once, drawing)));
    }
    return decisions;
  }

  /**
   * A request with a swap (contract v3), alone: its course, the named request's course and the courses its
   * student waits on locked together (the seat a swap frees, and the meetings it gives up, may promote
   * there). With the named request not held any more → rejected swap_target_gone; otherwise decided as
   * any request, except that the named course's meetings and credits do not count against it when it is
   * held as an enrollment. Enrolled: the named request is dropped (reason swapped) in this transaction and
   * its seat or waiting place handed on (guarantee 6). Waitlisted: the named request stays as it is, and
   * the swap happens when this one is promoted.
   */
  private decideSwap(
    request: LedgerRequest,
    onLocked: () => void,
    drawing: number | undefined,
  ): Promise<LedgerDecision[]> {
    const swapFor = request.swapFor!;
    return this.inCourses(
      [request.courseId],
      (manager) => this.swapCourses(manager, request.studentId, swapFor),
      async (manager, locked) => {
        await this.assertNoDrawDue(
          manager,
          locked.filter((one) => one.id === request.courseId),
          drawing,
        );
        onLocked();
        const state = await readBatchState(manager, [request]);
        if (state.decided.has(request.idempotencyKey)) return [];
        const course = locked.find((one) => one.id === request.courseId);
        const named = await this.decisions.find(swapFor, manager);
        const held = named?.studentId === request.studentId && named.courseId !== request.courseId;
        // Decided after the involved courses were read: its course must be locked too.
        if (held && !locked.some((one) => one.id === named.courseId)) {
          throw new InvolvementChanged([named.courseId]);
        }
        const namedStatus =
          held && ['enrolled', 'waitlisted', 'offered'].includes(named.status)
            ? (named.status as 'enrolled' | 'waitlisted' | 'offered')
            : null;
        // An offered request holds no seat: as a schedule sees it, it still waits.
        const target: SwapTarget | null = namedStatus
          ? {
              course: scheduledCourse(locked.find((one) => one.id === named!.courseId)!),
              held: namedStatus === 'enrolled' ? 'enrolled' : 'waitlisted',
            }
          : null;
        const book = new ScheduleBook(manager, this.defaults);
        await book.lock([request.studentId]);
        const schedule = book.get(request.studentId);
        const { decision, counters } = this.swapVerdict(
          course,
          request,
          state.holdsIn(request.courseId),
          schedule,
          target,
        );
        const ledgerDecision = {
          ...decision,
          priority: request.priority,
          requestedAt: request.requestedAt,
          swapFor,
          ...(request.drawRank === undefined ? {} : { drawRank: request.drawRank }),
        };
        if (decision.status === 'enrolled')
          book.set(swapInto(schedule, scheduledCourse(course!), target, false));
        if (decision.status === 'waitlisted') book.set(joinWaitlist(schedule, request.courseId));
        await writeDecisions(manager, [ledgerDecision], counters ? [counters] : [], []);
        const change = new ChangeSet(manager, book, locked);
        if (course && counters) {
          const plan = change.plan(course.id);
          plan.counters = {
            ...plan.counters,
            seatsTaken: counters.seatsTaken,
            waitlistLength: plan.counters.waitlistLength + counters.waitlisted,
            eventsWritten: counters.eventsWritten,
          };
        }
        if (decision.status === 'enrolled' && namedStatus) {
          const namedCourse = locked.find((one) => one.id === named!.courseId)!;
          // Its seat, held seat or waiting place is handed on; a seat given up may lift the student's own
          // blocks on the courses they wait on (all locked).
          await change.giveUp({
            idempotencyKey: swapFor,
            studentId: request.studentId,
            courseId: namedCourse.id,
            status: namedStatus,
            position:
              namedStatus === 'waitlisted' ? named!.waitlistPosition! + namedCourse.waitlistOffset : null,
          });
        }
        await change.fill();
        await change.write();
        return [ledgerDecision];
      },
    );
  }

  /** The decision of a request with a swap, and its course's counters after it (none for a course gone). */
  private swapVerdict(
    course: Course | undefined,
    request: LedgerRequest,
    holds: ReadonlyMap<string, 'enrolled' | 'waitlisted'>,
    schedule: StudentSchedule,
    target: SwapTarget | null,
  ): { decision: JobDecision; counters: CounterChange | null } {
    if (course && !holds.has(request.studentId) && !target) {
      const seq = course.eventsWritten + 1;
      return {
        decision: {
          idempotencyKey: request.idempotencyKey,
          studentId: request.studentId,
          courseId: course.id,
          status: 'rejected',
          reason: 'swap_target_gone',
          waitlistPosition: null,
          waitlistPlace: null,
          seq,
        },
        counters: {
          courseId: course.id,
          seatsTaken: course.seatsTaken,
          waitlisted: 0,
          decided: 1,
          eventsWritten: seq,
        },
      };
    }
    const outcome = decideJob(
      course ? [{ ...countersOf(course), ...scheduledCourse(course), holds }] : [],
      [request],
      new Map([[request.studentId, withoutSwapped(schedule, target)]]),
    );
    return { decision: outcome.decisions[0], counters: outcome.counters[0] ?? null };
  }

  /** The courses a swap involves: the named request's, and the ones its student waits on. */
  private async swapCourses(manager: EntityManager, studentId: string, swapFor: string): Promise<number[]> {
    const rows: Array<{ course_id: number }> = await manager.query(
      `SELECT course_id FROM decisions WHERE idempotency_key = $1 AND student_id = $2
       UNION SELECT course_id FROM waitlist_entries WHERE student_id = $2`,
      [swapFor, studentId],
    );
    return rows.map((row) => row.course_id);
  }

  /**
   * Decides a batch of plain requests, given in arbitration order, in one transaction: the courses' locks, one
   * read of what the batch needs, the students' load rows locked and read, the pure rules, then every
   * decision, enrollment, waitlist entry, course counter and load row in one statement. onLocked is called
   * once the course locks are held (the worker reads its next batch from then on). Requests decided already
   * (a redelivery, a cancellation) are skipped; returns only the decisions made here. A deadlock is for
   * the caller to retry (the worker does, with backoff).
   */
  private decidePlain(
    requests: readonly LedgerRequest[],
    onLocked: () => void,
    drawing?: number,
  ): Promise<LedgerDecision[]> {
    return this.dataSource.transaction(async (manager) => {
      const courseIds = [...new Set(requests.map((request) => request.courseId))];
      if (courseIds.length === 0) return [];
      const courses = await this.lock(manager, courseIds);
      await this.assertNoDrawDue(manager, courses, drawing);
      onLocked();
      const state = await readBatchState(manager, requests);
      const pending = requests.filter((request) => !state.decided.has(request.idempotencyKey));
      if (pending.length === 0) return [];
      // Guarantee 8: the students' load rows, after the course rows. A request for a course with no
      // meetings and no credits that is sure of a seat neither reads nor changes its student's load, so
      // its student is left unlocked (the hot path of an opening). Holdings (enrolled courses' meetings,
      // overrides) matter only when a course has meetings or the student has a limit in force.
      const loadFree = new Set(
        courses
          .filter((course) => {
            const asking = pending.filter((request) => request.courseId === course.id).length;
            return nobodyBlockedIn(course) && freeSeats(countersOf(course)) >= asking;
          })
          .map((course) => course.id),
      );
      const anyMeetings = courses.some((course) => course.meetings.length > 0);
      const book = new ScheduleBook(
        manager,
        this.defaults,
        (schedule) => anyMeetings || schedule.creditLimit !== null || schedule.waitlistLimit !== null,
        false,
      );
      await book.lock(
        pending.filter((request) => !loadFree.has(request.courseId)).map((request) => request.studentId),
      );
      const schedules = book.schedules();
      const outcome = decideJob(
        courses.map((course) => ({
          id: course.id,
          ...countersOf(course),
          credits: course.credits,
          meetings: course.meetings,
          holds: state.holdsIn(course.id),
        })),
        pending,
        schedules,
      );
      book.update(schedules);
      const decisions = outcome.decisions.map((decision, index) => ({
        ...decision,
        priority: pending[index].priority,
        requestedAt: pending[index].requestedAt,
        ...(pending[index].drawRank === undefined ? {} : { drawRank: pending[index].drawRank }),
      }));
      for (const rejected of decisions.filter((decision) => decision.reason === 'course_not_found')) {
        this.logger.warn(
          `course ${rejected.courseId} does not exist; request ${rejected.idempotencyKey} rejected`,
        );
      }
      await writeDecisions(manager, decisions, outcome.counters, book.writes());
      return decisions;
    });
  }

  /**
   * Guarantee 4 with a draw: a locked course whose draw period has ended (by the database's clock) while
   * its draw is not carried out yet decides nothing else first (DrawPending); `drawing` is the course whose
   * draw this transaction carries out. Costs a round trip only while a course's draw is pending.
   */
  private async assertNoDrawDue(
    manager: EntityManager,
    courses: readonly Course[],
    drawing: number | undefined,
  ): Promise<void> {
    const pending = courses.filter((course) => course.drawPending && course.id !== drawing);
    if (pending.length === 0) return;
    const [{ now }]: Array<{ now: Date }> = await manager.query('SELECT now() AS now');
    const due = pending.filter((course) => (drawPeriodOf(course)?.endsAt ?? now) <= now);
    if (due.length > 0) throw new DrawPending(due.map((course) => course.id));
  }

  /**
   * Where a course's draw stands, by the database's clock: pending (configured and not carried out to its
   * last entry), whether its period has ended, and its entries in draw order once drawn.
   */
  async drawState(courseId: number): Promise<{ pending: boolean; due: boolean; order: DrawnEntry[] | null }> {
    const rows: Array<{ pending: boolean; due: boolean; entries: DrawnEntry[] | null }> =
      await this.dataSource.query(
        `SELECT c.draw_pending AS pending,
                c.opens_at + make_interval(secs => c.draw_window_s) <= now() AS due, d.entries
           FROM courses c LEFT JOIN course_draws d ON d.course_id = c.id WHERE c.id = $1`,
        [courseId],
      );
    const row = rows[0];
    return { pending: row?.pending ?? false, due: row?.due ?? false, order: row?.entries ?? null };
  }

  /**
   * Makes the draw (contract v3, Fair opening) from its entries in acceptance order, once: under the course
   * lock, the entries withdrawn meanwhile (cancelled) are left out, the rest put in draw order with the
   * seed, stored, and the `drawn` event written with the seed revealed. A second caller finds the draw made
   * and gets the stored order, so a crash or a race yields one order. Null when the course has no pending
   * draw or its period has not ended.
   */
  recordDraw(courseId: number, accepted: readonly DrawnEntry[]): Promise<DrawnEntry[] | null> {
    return this.transaction(async (manager) => {
      const [course] = await this.lock(manager, [courseId]);
      if (!course?.drawPending) return null;
      const [draw]: Array<{ seed: string; entries: DrawnEntry[] | null; due: boolean }> = await manager.query(
        `SELECT d.seed, d.entries, $2::timestamptz <= now() AS due FROM course_draws d WHERE d.course_id = $1`,
        [courseId, drawPeriodOf(course)?.endsAt ?? null],
      );
      if (!draw) return null;
      if (draw.entries) return draw.entries;
      if (!draw.due) return null;
      const cancelled = new Set(
        (
          (await manager.query(
            'SELECT idempotency_key FROM decisions WHERE idempotency_key = ANY($1::varchar[])',
            [accepted.map((entry) => entry.idempotencyKey)],
          )) as Array<{ idempotency_key: string }>
        ).map((row) => row.idempotency_key),
      );
      const order = drawOrder(
        draw.seed,
        courseId,
        accepted.filter((entry) => !cancelled.has(entry.idempotencyKey)),
      );
      await manager.query(
        'UPDATE course_draws SET drawn_at = now(), entries = $2::jsonb WHERE course_id = $1',
        [courseId, JSON.stringify(order)],
      );
      await this.record(manager, course, [{ type: 'drawn', entries: order.length, seed: draw.seed }]);
      return order;
    });
  }

  /**
   * Ends a draw once every entry is decided: from here the course's later requests are decided as usual.
   * Refuses while an entry is still undecided (the caller decides it first).
   */
  finishDraw(courseId: number): Promise<void> {
    return this.transaction(async (manager) => {
      await this.lock(manager, [courseId]);
      const [{ undecided }]: Array<{ undecided: number }> = await manager.query(
        `SELECT count(*)::int AS undecided
           FROM course_draws d CROSS JOIN LATERAL jsonb_array_elements(d.entries) e
          WHERE d.course_id = $1
            AND NOT EXISTS (SELECT 1 FROM decisions WHERE idempotency_key = e->>'idempotencyKey')`,
        [courseId],
      );
      if (undecided > 0) throw new Error(`course ${courseId}: ${undecided} draw entries are not decided yet`);
      await manager.query('UPDATE courses SET draw_pending = false WHERE id = $1', [courseId]);
    });
  }

  /** Courses whose draw period has ended while their draw is not carried out (the draw sweep's). */
  async coursesWithDueDraws(limit: number): Promise<number[]> {
    const rows: Array<{ id: number }> = await this.dataSource.query(
      `SELECT id FROM courses
        WHERE draw_pending AND opens_at + make_interval(secs => draw_window_s) <= now()
        ORDER BY opens_at + make_interval(secs => draw_window_s), id LIMIT $1`,
      [limit],
    );
    return rows.map((row) => row.id);
  }

  /**
   * Withdraws a request whatever its state: a queued one is cancelled (its one decision, held by the
   * decisions table's primary key, so no worker decides it later), an enrolled one is dropped and its seat
   * goes to the first waiting request that may take it, a waitlisted one leaves the list. A dropped seat
   * may also lift the student's own blocks elsewhere: the courses they wait on are locked too (read, lock
   * all in id order, re-check), and each with a free seat promotes them in the same transaction. Returns
   * the request's final row, read inside the transaction.
   */
  withdraw(request: LedgerRequest): Promise<DecidedRequest> {
    return this.inCourses(
      [request.courseId],
      (manager) => this.waitingCoursesIfEnrolled(manager, request),
      async (manager, locked) => {
        const course = locked.find((one) => one.id === request.courseId);
        const current = await this.decisions.find(request.idempotencyKey, manager);
        const withdrawal = withdrawalOf(current?.status ?? 'queued');
        if (withdrawal === 'refused') {
          throw new DomainError(
            DomainErrorCode.RequestNotWithdrawable,
            `request ${request.idempotencyKey} was rejected; it holds no seat or waitlist place to drop`,
          );
        }
        // The final row is what was read under the lock with this change applied: no read after the write.
        if (withdrawal === 'unchanged') return current!;
        if (withdrawal === 'cancel') {
          // Only a queued request can name a course that is gone (courses are never deleted by the API).
          const at = await this.decideQueued(manager, course, request, 'cancelled');
          return {
            ...request,
            swapFor: request.swapFor ?? null,
            offerExpiresAt: null,
            requestedAt: new Date(request.requestedAt),
            status: 'cancelled',
            reason: null,
            waitlistPosition: null,
            decidedAt: at,
            promotedAt: null,
            droppedAt: at,
            blockedReason: null,
          };
        }
        // Holdings matter only if a promotion here could be blocked: another course is involved (the
        // student's waiting ones, or a swap's), or this one has meetings or credits. Otherwise the drop's
        // hot path reads no one's enrolled courses.
        const book = new ScheduleBook(
          manager,
          this.defaults,
          () =>
            (withdrawal === 'drop_seat' || withdrawal === 'decline') &&
            (locked.length > 1 || !nobodyBlockedIn(course!)),
          // Lock without writing: a waiting student always has a row, and a dropping one without a row
          // (who held only courses without meetings or credits) gets it with the drop's write.
          false,
        );
        const change = new ChangeSet(manager, book, locked);
        if (withdrawal === 'drop_seat') {
          // The freed seat goes to the first waiting request that may take it. The dropping student's row
          // is locked with its candidates (one statement; they wait on this course, so they are not the
          // dropping student), then their load gives the seat up before any course they wait on is filled:
          // the dropped course may lift their own blocks there.
          change.dropSeat(course!.id, request.idempotencyKey, request.studentId);
          await change.fill([request.studentId]);
          book.set(dropCourse(book.get(request.studentId), scheduledCourse(course!)));
          change.mayFill(locked.filter((other) => other.id !== course!.id).map((other) => other.id));
          await change.fill();
        } else if (withdrawal === 'decline') {
          // An offer declined: the held seat is offered to the next in the same transaction.
          await book.lock([request.studentId]);
          change.releaseOffer(course!.id, request.idempotencyKey, request.studentId, 'declined');
          book.set(leaveWaitlist(book.get(request.studentId)));
          await change.fill();
        } else {
          await book.lock([request.studentId]);
          const position = current!.waitlistPosition! + course!.waitlistOffset;
          const counters = await removeFromWaitlist(manager, course!.id, countersOf(course!), position);
          change.droppedFromWaitlist(course!.id, counters, request.idempotencyKey, request.studentId);
          book.set(leaveWaitlist(book.get(request.studentId)));
        }
        const [at] = await change.write();
        return {
          ...current!,
          status: 'dropped',
          reason: withdrawal === 'decline' ? 'declined' : current!.reason,
          waitlistPosition: null,
          droppedAt: at,
          offerExpiresAt: null,
          blockedReason: null,
        };
      },
    );
  }

  /**
   * Accepts an offer (contract v3, Offers): under the course's lock (and the swap's, and the courses its
   * student waits on), an `offered` request before its deadline becomes `enrolled`, its held seat taken,
   * and its swap, if it has one, carried out. The deadline decides: past it the accept is refused even if
   * the expiry has not run yet. A repeat (already enrolled) answers the same state. Refused, nothing
   * changes: not offered (409 naming its status), expired, or blocked by the student's schedule now (the
   * offer stands until its deadline).
   */
  acceptOffer(request: LedgerRequest): Promise<DecidedRequest> {
    return this.inCourses(
      [request.courseId],
      (manager) =>
        // Enrolling lifts no block elsewhere; a swap's seat given up may (its student's waiting courses).
        request.swapFor ? this.swapCourses(manager, request.studentId, request.swapFor) : Promise.resolve([]),
      async (manager, locked) => {
        const current = await this.decisions.find(request.idempotencyKey, manager);
        if (current?.status === 'enrolled') return current;
        if (current?.status !== 'offered') {
          throw new DomainError(
            DomainErrorCode.OfferNotOpen,
            `request ${request.idempotencyKey} is ${current?.status ?? 'queued'}, not offered; there is no offer to accept`,
          );
        }
        const [{ expired }]: Array<{ expired: boolean }> = await manager.query(
          'SELECT offer_expires_at <= clock_timestamp() AS expired FROM decisions WHERE idempotency_key = $1',
          [request.idempotencyKey],
        );
        if (expired) {
          throw new DomainError(
            DomainErrorCode.OfferExpired,
            `the offer to request ${request.idempotencyKey} expired at ${current.offerExpiresAt!.toISOString()}`,
          );
        }
        const course = locked.find((one) => one.id === request.courseId)!;
        const book = new ScheduleBook(manager, this.defaults);
        const change = new ChangeSet(manager, book, locked);
        const blocked = await this.seatOffer(manager, change, book, locked, course, current);
        if (blocked) {
          throw new DomainError(
            DomainErrorCode.OfferBlocked,
            `accepting would break student ${request.studentId}'s schedule now (${blocked}); the offer stands until ${current.offerExpiresAt!.toISOString()}`,
          );
        }
        await change.fill();
        const [at] = await change.write();
        return { ...current, status: 'enrolled', promotedAt: at, offerExpiresAt: null };
      },
    );
  }

  /**
   * Enrolls an offered request in `change` (its held seat taken, its swap carried out), unless its student's
   * schedule blocks it now: then nothing changes and the block is returned.
   */
  private async seatOffer(
    manager: EntityManager,
    change: ChangeSet,
    book: ScheduleBook,
    locked: readonly Course[],
    course: Course,
    offer: DecidedRequest,
  ): Promise<'time_conflict' | 'max_credits' | null> {
    const named = offer.swapFor ? await this.decisions.find(offer.swapFor, manager) : null;
    const namedStatus =
      named && ['enrolled', 'waitlisted', 'offered'].includes(named.status)
        ? (named.status as 'enrolled' | 'waitlisted' | 'offered')
        : null;
    if (namedStatus && !locked.some((one) => one.id === named!.courseId)) {
      throw new InvolvementChanged([named!.courseId]);
    }
    const target: SwapTarget | null = namedStatus
      ? {
          course: scheduledCourse(locked.find((one) => one.id === named!.courseId)!),
          held: namedStatus === 'enrolled' ? 'enrolled' : 'waitlisted',
        }
      : null;
    await book.lock([offer.studentId]);
    const schedule = book.get(offer.studentId);
    const blocked = blockOf(withoutSwapped(schedule, target), scheduledCourse(course));
    if (blocked) return blocked;
    change.acceptOffer(course.id, offer.idempotencyKey, offer.studentId);
    book.set(swapInto(schedule, scheduledCourse(course), target, true));
    if (namedStatus) {
      const namedCourse = locked.find((one) => one.id === named!.courseId)!;
      await change.giveUp({
        idempotencyKey: named!.idempotencyKey,
        studentId: offer.studentId,
        courseId: namedCourse.id,
        status: namedStatus,
        position: namedStatus === 'waitlisted' ? named!.waitlistPosition! + namedCourse.waitlistOffset : null,
      });
    }
    return null;
  }

  /**
   * Ends a course's offers whose deadline has passed (contract v3, Offers): each `dropped`, reason
   * `offer_expired`, and its seat offered to the next in the same transaction. Idempotent under the course
   * lock, so any number of processes may sweep at once. Resolves with how late each expiry ran (seconds).
   */
  expireOffers(courseId: number): Promise<number[]> {
    return this.inCourses(
      [courseId],
      // An expiry changes no one's credits or meetings, so it lifts no block elsewhere.
      () => Promise.resolve([]),
      async (manager, locked) => {
        if (!locked.some((one) => one.id === courseId)) return [];
        const due: Array<{ idempotency_key: string; student_id: string; late: number }> = await manager.query(
          `SELECT idempotency_key, student_id,
                  extract(epoch FROM clock_timestamp() - offer_expires_at)::float8 AS late
             FROM decisions WHERE course_id = $1 AND status = 'offered' AND offer_expires_at <= clock_timestamp()
            ORDER BY offer_expires_at, idempotency_key`,
          [courseId],
        );
        if (due.length === 0) return [];
        const book = new ScheduleBook(manager, this.defaults);
        await book.lock(due.map((offer) => offer.student_id));
        const change = new ChangeSet(manager, book, locked);
        for (const offer of due) {
          change.releaseOffer(courseId, offer.idempotency_key, offer.student_id, 'offer_expired');
          book.set(leaveWaitlist(book.get(offer.student_id)));
        }
        await change.fill();
        await change.write();
        return due.map((offer) => offer.late);
      },
    );
  }

  /** The courses whose offers are past their deadline, oldest first: the expiry sweep's work. */
  async coursesWithExpiredOffers(limit: number): Promise<number[]> {
    const rows: Array<{ course_id: number }> = await this.dataSource.query(
      `SELECT course_id FROM decisions WHERE status = 'offered' AND offer_expires_at <= now()
        GROUP BY course_id ORDER BY min(offer_expires_at) LIMIT $1`,
      [limit],
    );
    return rows.map((row) => row.course_id);
  }

  /**
   * Changes a course's title, capacity, window, credits or meetings. Raising the capacity promotes the
   * first waiting requests that may take the seats, in the same transaction; lowering it below the seats
   * taken is refused and changes nothing. New credits or meetings apply to later decisions (nobody loses a
   * place): the enrolled students' loads follow, and any block the change lifts (on this course or on a
   * course they wait on) promotes in the same transaction.
   */
  changeCourse(courseId: number, changes: CourseChanges): Promise<Course> {
    const reshaped = changes.credits !== undefined || changes.meetings !== undefined;
    const toAuto = changes.waitlistMode === 'auto';
    return this.inCourses(
      [courseId],
      async (manager) => [
        ...(reshaped ? await this.waitingCoursesOfEnrolled(manager, courseId) : []),
        ...(toAuto ? await this.liveOfferCourses(manager, courseId) : []),
      ],
      async (manager, locked) => {
        const course = locked.find((one) => one.id === courseId);
        if (!course)
          throw new DomainError(DomainErrorCode.CourseNotFound, `course_id ${courseId} does not exist`);
        const opensAt = changes.opensAt === undefined ? course.opensAt : changes.opensAt;
        const closesAt = changes.closesAt === undefined ? course.closesAt : changes.closesAt;
        assertWindowOrder(opensAt, closesAt);
        const draw = {
          opensAt,
          drawWindowS: changes.drawWindowS ?? course.drawWindowS,
          prequeueS: changes.prequeueS ?? course.prequeueS,
        };
        assertDrawSettings(draw);
        if (drawChange(course, draw, new Date(), this.drawLeadMs) === 'reseed') {
          if (drawPeriodOf(draw)) await this.reseedDraw(manager, courseId);
          else await manager.query('DELETE FROM course_draws WHERE course_id = $1', [courseId]);
          course.drawPending = drawPeriodOf(draw) !== null;
        }
        // The enrolled students' load rows, read before the course row changes: their loads follow the
        // course's new credits below (an excess is excused: nobody loses a place).
        const book = new ScheduleBook(manager, this.defaults);
        const change = new ChangeSet(manager, book, locked);
        const plan = change.plan(courseId);
        if (changes.capacity !== undefined && changes.capacity !== course.capacity) {
          const changed = changeCapacity(plan.counters, changes.capacity);
          if (!changed) {
            throw new DomainError(
              DomainErrorCode.CapacityBelowSeatsTaken,
              `capacity ${changes.capacity} is below the ${course.seatsTaken} seats taken and ` +
                `${course.seatsHeld} held for offers; nobody loses a seat`,
            );
          }
          plan.counters = changed;
          plan.write.events.push({ type: 'capacity_changed', capacity: changes.capacity });
        }
        const enrolled: Array<{ student_id: string }> = reshaped
          ? await manager.query('SELECT student_id FROM enrollments WHERE course_id = $1', [courseId])
          : [];
        await book.lock(enrolled.map((row) => row.student_id));
        const wasOffering = course.waitlistMode === 'offer';
        course.credits = changes.credits ?? course.credits;
        course.meetings = changes.meetings ?? course.meetings;
        course.waitlistMode = changes.waitlistMode ?? course.waitlistMode;
        course.offerTtlS = changes.offerTtlS ?? course.offerTtlS;
        plan.write.offerTtlSeconds = course.offerTtlS;
        await manager.query(
          `UPDATE courses SET title = $2, opens_at = $3, closes_at = $4, credits = $5, meetings = $6::jsonb,
                              waitlist_mode = $7, offer_ttl_s = $8, draw_window_s = $9, prequeue_s = $10,
                              draw_pending = $11
            WHERE id = $1`,
          [
            course.id,
            changes.title ?? course.title,
            opensAt,
            closesAt,
            course.credits,
            JSON.stringify(course.meetings),
            course.waitlistMode,
            course.offerTtlS,
            draw.drawWindowS,
            draw.prequeueS,
            course.drawPending,
          ],
        );
        for (const { student_id } of enrolled) {
          book.set(settle(book.get(student_id), { course: scheduledCourse(course) }));
        }
        // Back to auto: the live offers are enrolled now, those their students' schedules allow; an offer
        // a schedule blocks stands until its deadline.
        if (wasOffering && course.waitlistMode === 'auto') {
          const offers = await this.decisions.offeredIn(courseId, manager);
          for (const offer of offers) await this.seatOffer(manager, change, book, locked, course, offer);
        }
        change.mayFill(reshaped ? locked.map((one) => one.id) : [courseId]);
        await change.fill();
        await change.write();
        // Read back under the lock: after the commit another change may already have followed this one.
        const [written] = await this.lock(manager, [courseId]);
        return written;
      },
    );
  }

  /**
   * Sets a student's own limits (null: the configured default). A limit below what they hold now is
   * refused and changes nothing. A raised credit limit may lift the student's blocks: the courses they
   * wait on are locked first, and each with a free seat promotes them in the same transaction.
   */
  setLimits(studentId: string, limits: StudentLimits): Promise<void> {
    return this.inCourses(
      [],
      (manager) => this.waitingCoursesOf(manager, studentId),
      async (manager, locked) => {
        const book = new ScheduleBook(manager, this.defaults);
        await book.lock([studentId]);
        const schedule = book.get(studentId);
        const creditLimit = limits.maxCredits ?? this.defaults.defaultMaxCredits;
        const waitlistLimit = limits.maxWaitlisted ?? this.defaults.defaultMaxWaitlisted;
        if (creditLimit !== null && creditLimit < schedule.enrolledCredits) {
          throw new DomainError(
            DomainErrorCode.LimitBelowLoad,
            `max_credits ${creditLimit} is below the ${schedule.enrolledCredits} credits student ${studentId} is enrolled in; nothing changed`,
          );
        }
        if (waitlistLimit !== null && waitlistLimit < schedule.waitlistedCount) {
          throw new DomainError(
            DomainErrorCode.LimitBelowLoad,
            `max_waitlisted ${waitlistLimit} is below the ${schedule.waitlistedCount} waitlists student ${studentId} is on; nothing changed`,
          );
        }
        await manager.query(
          'UPDATE student_loads SET max_credits = $2, max_waitlisted = $3 WHERE student_id = $1',
          [studentId, limits.maxCredits, limits.maxWaitlisted],
        );
        book.set(settle(schedule, { creditLimit, waitlistLimit }));
        const change = new ChangeSet(manager, book, locked);
        change.mayFill(locked.map((course) => course.id));
        await change.fill();
        await change.write();
      },
    );
  }

  /**
   * Records an operator's override for (student, course). It may lift the student's block on that course:
   * with a free seat, their waiting request is promoted in the same transaction.
   */
  addOverride(override: Omit<OverrideRow, 'id' | 'createdAt'>): Promise<OverrideRow> {
    return this.inCourses(
      [override.courseId],
      () => Promise.resolve([]),
      async (manager, locked) => {
        const course = locked.find((one) => one.id === override.courseId);
        if (!course) {
          throw new DomainError(
            DomainErrorCode.CourseNotFound,
            `course_id ${override.courseId} does not exist`,
          );
        }
        const [row]: Array<{ id: string; created_at: Date }> = await manager.query(
          `INSERT INTO schedule_overrides (student_id, course_id, kinds, expires_at)
           VALUES ($1, $2, $3::varchar[], $4) RETURNING id, created_at`,
          [override.studentId, override.courseId, override.kinds, override.expiresAt],
        );
        const book = new ScheduleBook(manager, this.defaults);
        await book.lock([override.studentId]);
        const change = new ChangeSet(manager, book, locked);
        change.mayFill([course.id]);
        await change.fill();
        await change.write();
        return { ...override, id: String(row.id), createdAt: row.created_at };
      },
    );
  }

  /** Removes an override; it only ever narrows what a student may do, so no promotion follows. */
  async removeOverride(id: string): Promise<void> {
    const [, deleted]: [unknown, number] = await this.dataSource.query(
      'DELETE FROM schedule_overrides WHERE id = $1',
      [id],
    );
    if (deleted === 0) throw new DomainError(DomainErrorCode.OverrideNotFound, `no override with id ${id}`);
  }

  /**
   * Runs `work` in a transaction holding the locks of `courseIds` and of every course `involved` names
   * (read before the locks, then again under them: if the set grew meanwhile, the transaction starts over
   * with the larger set, so courses are always locked in one statement, in id order). Deadlocks and
   * serialization failures are retried too.
   */
  private async inCourses<T>(
    courseIds: readonly number[],
    involved: (manager: EntityManager) => Promise<number[]>,
    work: (manager: EntityManager, locked: Course[]) => Promise<T>,
  ): Promise<T> {
    const ids = new Set(courseIds);
    for (const id of await involved(this.dataSource.manager)) ids.add(id);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.transaction(async (manager) => {
          const locked = ids.size === 0 ? [] : await this.lock(manager, [...ids]);
          const missing = (await involved(manager)).filter((id) => !ids.has(id));
          if (missing.length > 0) throw new InvolvementChanged(missing);
          return work(manager, locked);
        });
      } catch (error) {
        if (!(error instanceof InvolvementChanged) || attempt >= INVOLVEMENT_ATTEMPTS) throw error;
        for (const id of error.courseIds) ids.add(id);
      }
    }
  }

  /** A transaction, tried again after a deadlock or serialization failure (nothing of it was kept). */
  private async transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.dataSource.transaction(work);
      } catch (error) {
        const state = sqlStateOf(error);
        if (!state || !RETRIED_SQLSTATES.has(state) || attempt >= TRANSACTION_ATTEMPTS) throw error;
        this.logger.warn(`transaction retried after ${state} (attempt ${attempt})`);
        await sleep(5 + Math.random() * 20 * attempt);
      }
    }
  }

  /** The courses a student waits on, when the request is an enrollment (its drop may lift their blocks). */
  private async waitingCoursesIfEnrolled(manager: EntityManager, request: LedgerRequest): Promise<number[]> {
    const rows: Array<{ course_id: number }> = await manager.query(
      `SELECT course_id FROM waitlist_entries
        WHERE student_id = $1 AND EXISTS (SELECT 1 FROM enrollments WHERE idempotency_key = $2)`,
      [request.studentId, request.idempotencyKey],
    );
    return rows.map((row) => row.course_id);
  }

  private async waitingCoursesOf(manager: EntityManager, studentId: string): Promise<number[]> {
    const rows: Array<{ course_id: number }> = await manager.query(
      'SELECT course_id FROM waitlist_entries WHERE student_id = $1',
      [studentId],
    );
    return rows.map((row) => row.course_id);
  }

  /**
   * What enrolling a course's live offers involves: the courses their swaps name, and the courses their
   * students wait on (a swap's seat given up may lift a block there).
   */
  private async liveOfferCourses(manager: EntityManager, courseId: number): Promise<number[]> {
    const rows: Array<{ course_id: number }> = await manager.query(
      `SELECT t.course_id FROM decisions o JOIN decisions t ON t.idempotency_key = o.swap_for
        WHERE o.course_id = $1 AND o.status = 'offered'
       UNION SELECT w.course_id FROM decisions o JOIN waitlist_entries w ON w.student_id = o.student_id
        WHERE o.course_id = $1 AND o.status = 'offered' AND o.swap_for IS NOT NULL`,
      [courseId],
    );
    return rows.map((row) => row.course_id);
  }

  /** The courses the students enrolled in a course wait on. */
  private async waitingCoursesOfEnrolled(manager: EntityManager, courseId: number): Promise<number[]> {
    const rows: Array<{ course_id: number }> = await manager.query(
      `SELECT DISTINCT w.course_id FROM enrollments e JOIN waitlist_entries w ON w.student_id = e.student_id
        WHERE e.course_id = $1`,
      [courseId],
    );
    return rows.map((row) => row.course_id);
  }

  // What other owners' transactions do to a course they have locked through lock() (the dead-letter
  // store's, which write their own rows beside the course's record).

  /** The request's decision and, while waitlisted, its stored position; null while it is queued. */
  requestState(manager: EntityManager, idempotencyKey: string): Promise<RequestState | null> {
    return readRequestState(manager, idempotencyKey);
  }

  /** Appends events to a locked course's record. */
  async record(manager: EntityManager, course: Course, events: readonly NewEvent[]): Promise<void> {
    await writeChange(manager, course.id, countersOf(course), { events, decided: 0 });
  }

  /**
   * A queued request's one decision made by the API rather than a worker: `cancelled` (withdrawn) or
   * `rejected` (a dead letter an operator rejected); counted as decided on its course, if that exists.
   * Resolves with the decision's time.
   */
  async decideQueued(
    manager: EntityManager,
    course: Course | undefined,
    request: LedgerRequest,
    status: 'cancelled' | 'rejected',
  ): Promise<Date> {
    const { seq, at } = await insertApiDecision(manager, course, request, status);
    if (!course) return at;
    await writeChange(
      manager,
      course.id,
      { ...countersOf(course), eventsWritten: seq! },
      { events: [], decided: 1 },
    );
    return at;
  }

  /** Codes are unique whatever their case (a unique index on lower(code)): say which one holds it. */
  private async codeTakenMessage(code: string): Promise<string> {
    const holder = await this.courses
      .createQueryBuilder('course')
      .select('course.code')
      .where('lower(course.code) = lower(:code)', { code })
      .getOne()
      .catch(() => null);
    return holder && holder.code !== code
      ? `code ${code} already exists as ${holder.code} (codes are unique whatever their case)`
      : `code ${code} already exists`;
  }
}
