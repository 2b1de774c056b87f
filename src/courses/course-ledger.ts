import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, type EntityManager, In, QueryFailedError, type Repository } from 'typeorm';
import { type DecidedRequest, DecisionsService } from '../decisions/decisions.service.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { Course } from './course.entity.js';
import { assertWindowOrder } from './course-window.js';
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
import { changeCapacity, decideJob, freeSeat, withdrawalOf } from './seat.rules.js';

export type { LedgerDecision, NewEvent, RequestState } from './ledger.statements.js';

const UNIQUE_VIOLATION = '23505';

/** A request as the ledger decides or withdraws it: what its claim or decision says of it. */
export interface LedgerRequest {
  idempotencyKey: string;
  studentId: string;
  courseId: number;
  priority: number;
  requestedAt: string;
}

/** A new course's fields, validated. */
export interface NewCourse {
  code: string;
  title: string;
  capacity: number;
  opensAt: Date | null;
  closesAt: Date | null;
}

/** What PATCH /courses/:id may change; undefined leaves a field as it is, null clears a window side. */
export interface CourseChanges {
  title?: string;
  capacity?: number;
  opensAt?: Date | null;
  closesAt?: Date | null;
}

/**
 * The course ledger: the one owner of the course row and of every write to it — deciding a batch, a
 * withdrawal, a course edit, promotion, and the events they record. Each write follows one shape: take the
 * course rows' locks (in id order, so two transactions never wait on each other), read what the plan needs,
 * plan with the pure seat rules, then write the plan in one statement. Everything that changes seats or a
 * waitlist happens under that lock, which is what keeps seats_taken <= capacity and guarantee 6
 * (docs/guarantees.md) under races between the workers and the API.
 */
@Injectable()
export class CourseLedger {
  private readonly logger = new Logger(CourseLedger.name);

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @InjectRepository(Course) private readonly courses: Repository<Course>,
    @Inject(DecisionsService) private readonly decisions: DecisionsService,
  ) {}

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
    try {
      return await this.courses.save(this.courses.create(course));
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
   * Decides a batch of requests, given in arbitration order, in one transaction: the courses' locks, one
   * read of what the batch needs, the pure rules, then every decision, enrollment, waitlist entry and
   * course counter in one statement. onLocked is called once the locks are held (the worker reads its next
   * batch from then on). Requests decided already (a redelivery, a cancellation) are skipped; returns only
   * the decisions made here.
   */
  decide(
    requests: readonly LedgerRequest[],
    onLocked: () => void = () => undefined,
  ): Promise<LedgerDecision[]> {
    return this.dataSource.transaction(async (manager) => {
      const courseIds = [...new Set(requests.map((request) => request.courseId))];
      if (courseIds.length === 0) return [];
      const courses = await this.lock(manager, courseIds);
      onLocked();
      const state = await readBatchState(manager, requests);
      const pending = requests.filter((request) => !state.decided.has(request.idempotencyKey));
      if (pending.length === 0) return [];
      const outcome = decideJob(
        courses.map((course) => ({ id: course.id, ...countersOf(course), holds: state.holdsIn(course.id) })),
        pending,
      );
      const decisions = outcome.decisions.map((decision, index) => ({
        ...decision,
        priority: pending[index].priority,
        requestedAt: pending[index].requestedAt,
      }));
      for (const rejected of decisions.filter((decision) => decision.reason === 'course_not_found')) {
        this.logger.warn(
          `course ${rejected.courseId} does not exist; request ${rejected.idempotencyKey} rejected`,
        );
      }
      await writeDecisions(manager, decisions, outcome.counters);
      return decisions;
    });
  }

  /**
   * Withdraws a request whatever its state: a queued one is cancelled (its one decision, held by the
   * decisions table's primary key, so no worker decides it later), an enrolled one is dropped and the
   * waitlist's head takes its seat, a waitlisted one leaves the list. Returns the request's final row, read
   * inside the transaction.
   */
  withdraw(request: LedgerRequest): Promise<DecidedRequest> {
    return this.dataSource.transaction(async (manager) => {
      const [course] = await this.lock(manager, [request.courseId]);
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
          requestedAt: new Date(request.requestedAt),
          status: 'cancelled',
          reason: null,
          waitlistPosition: null,
          decidedAt: at,
          promotedAt: null,
          droppedAt: at,
        };
      }
      let counters = countersOf(course!);
      if (withdrawal === 'drop_seat') counters = freeSeat(counters);
      if (withdrawal === 'leave_waitlist') {
        const position = current!.waitlistPosition! + course!.waitlistOffset;
        counters = await removeFromWaitlist(manager, course!.id, counters, position);
      }
      const dropped = { idempotencyKey: request.idempotencyKey, studentId: request.studentId };
      const at = await writeChange(manager, course!.id, counters, {
        events: [{ type: 'dropped', ...dropped, status: 'dropped' }],
        decided: 0,
        drop: request.idempotencyKey,
      });
      return { ...current!, status: 'dropped', waitlistPosition: null, droppedAt: at };
    });
  }

  /**
   * Changes a course's title, capacity or window. Raising the capacity promotes waitlist heads, in order,
   * in the same transaction; lowering it below the seats taken is refused and changes nothing.
   */
  changeCourse(courseId: number, changes: CourseChanges): Promise<Course> {
    return this.dataSource.transaction(async (manager) => {
      const [course] = await this.lock(manager, [courseId]);
      if (!course)
        throw new DomainError(DomainErrorCode.CourseNotFound, `course_id ${courseId} does not exist`);
      const opensAt = changes.opensAt === undefined ? course.opensAt : changes.opensAt;
      const closesAt = changes.closesAt === undefined ? course.closesAt : changes.closesAt;
      assertWindowOrder(opensAt, closesAt);
      let counters = countersOf(course);
      const events: NewEvent[] = [];
      if (changes.capacity !== undefined && changes.capacity !== course.capacity) {
        const changed = changeCapacity(counters, changes.capacity);
        if (!changed) {
          throw new DomainError(
            DomainErrorCode.CapacityBelowSeatsTaken,
            `capacity ${changes.capacity} is below the ${course.seatsTaken} seats taken; nobody loses a seat`,
          );
        }
        counters = changed;
        events.push({ type: 'capacity_changed', capacity: changes.capacity });
      }
      await manager.query(`UPDATE courses SET title = $2, opens_at = $3, closes_at = $4 WHERE id = $1`, [
        course.id,
        changes.title ?? course.title,
        opensAt,
        closesAt,
      ]);
      await writeChange(manager, course.id, counters, { events, decided: 0 });
      // Read back under the lock: after the commit another change may already have followed this one.
      const [written] = await this.lock(manager, [courseId]);
      return written;
    });
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
