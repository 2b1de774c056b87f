import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Course } from '../courses/course.entity.js';
import type { DeadLetter } from '../dead-letters/dead-letter.entity.js';
import { isConnectionError } from '../database/database-errors.js';
import { assertWindowOrder, CoursesService } from '../courses/courses.service.js';
import type { DecisionStatus } from '../decisions/decision.entity.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import type { CourseChangeType } from '../events/course-change.entity.js';
import {
  changeCapacity,
  type CourseCounters,
  freeSeat,
  leaveWaitlist,
  promote,
  type Withdrawal,
  withdrawalOf,
} from './allocation.rules.js';

/** The request being withdrawn, as the API knows it (from its decision, or from its claim while queued). */
export interface WithdrawnRequest {
  idempotencyKey: string;
  studentId: string;
  courseId: number;
  priority: number;
  requestedAt: string;
}

/** What PATCH /courses/:id may change; undefined leaves a field as it is, null clears a window side. */
export interface CourseChanges {
  title?: string;
  capacity?: number;
  opensAt?: Date | null;
  closesAt?: Date | null;
}

/** One row of course_changes, written in the transaction that made the change. */
interface NewEvent {
  type: CourseChangeType;
  idempotencyKey?: string;
  studentId?: string;
  status?: string;
  capacity?: number;
}

/**
 * The lifecycle after a decision, answered synchronously by the API: drops, cancellations, capacity and
 * window changes. Each runs in one transaction under the course's row lock, the same lock the workers
 * decide under, so it is serialized with every decision, promotion and other change of that course; the
 * pure rules plan it, and every freed seat goes to the waitlist's head in that same transaction.
 */
@Injectable()
export class LifecycleService {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(CoursesService) private readonly courses: CoursesService,
  ) {}

  /**
   * Withdraws a request whatever its state: a queued one is cancelled (its one decision, held by the
   * decisions table's primary key, so the worker decides nothing more for it), an enrolled one is dropped
   * and the waitlist's head takes its seat, a waitlisted one leaves the list. Returns what was done.
   */
  withdraw(request: WithdrawnRequest): Promise<Withdrawal> {
    return this.dataSource.transaction(async (manager) => {
      const [course] = await this.courses.lockForAllocation(manager, [request.courseId]);
      const current = await this.currentState(manager, request.idempotencyKey);
      const withdrawal = withdrawalOf(current?.status ?? 'queued');
      if (withdrawal === 'refused') {
        throw new DomainError(
          DomainErrorCode.RequestNotWithdrawable,
          `request ${request.idempotencyKey} was rejected; it holds no seat or waitlist place to drop`,
        );
      }
      if (withdrawal === 'unchanged') return withdrawal;
      if (withdrawal === 'cancel') {
        // Only a queued request can name a course that is gone (courses are never deleted by the API).
        await this.decideHere(manager, course, request, 'cancelled');
        return withdrawal;
      }
      let counters = countersOf(course!);
      if (withdrawal === 'drop_seat') counters = freeSeat(counters);
      if (withdrawal === 'leave_waitlist') {
        counters = await this.leaveWaitlist(manager, course!.id, counters, current!.position!);
      }
      const dropped = { idempotencyKey: request.idempotencyKey, studentId: request.studentId };
      await this.writeChange(manager, course!.id, counters, {
        events: [{ type: 'dropped', ...dropped, status: 'dropped' }],
        decided: 0,
        drop: request.idempotencyKey,
      });
      return withdrawal;
    });
  }

  /**
   * Changes a course's title, capacity or window. Raising the capacity promotes waitlist heads, in order,
   * in the same transaction; lowering it below the seats taken is refused and changes nothing.
   */
  async changeCourse(courseId: number, changes: CourseChanges): Promise<Course> {
    const changed = await this.dataSource.transaction(async (manager) => {
      const [course] = await this.courses.lockForAllocation(manager, [courseId]);
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
      await this.writeChange(manager, course.id, counters, { events, decided: 0 });
      // Read back under the lock: after the commit another change may already have followed this one.
      const [written] = await this.courses.lockForAllocation(manager, [courseId]);
      return written;
    });
    this.courses.forget(courseId);
    return changed;
  }

  /**
   * Sets a request aside as a dead letter (or records one more failure of it), with a `dead_lettered`
   * event: it stays queued, with no decision, until an operator acts. Nothing happens if it was decided
   * meanwhile. If even this transaction fails (say, the course row itself is what breaks), the dead letter
   * is written alone, without its event, so the request is never left in silence.
   */
  async deadLetter(
    request: WithdrawnRequest,
    error: string,
    attempts: number,
    repeat: 'add attempts' | 'keep' = 'add attempts',
  ): Promise<void> {
    // 'keep': a request several processes may set aside for the same failure (a failed job every worker
    // hears of) is written, and recorded, once.
    const onConflict =
      repeat === 'keep'
        ? 'DO NOTHING'
        : 'DO UPDATE SET error = EXCLUDED.error, attempts = dead_letters.attempts + EXCLUDED.attempts, failed_at = now()';
    const write = async (manager: EntityManager): Promise<boolean> => {
      const written: unknown[] = await manager.query(
        `INSERT INTO dead_letters (idempotency_key, student_id, course_id, priority, requested_at, error, attempts)
         SELECT $1::varchar, $2::varchar, $3::int, $4::smallint, $5::timestamptz, $6::text, $7::int
          WHERE NOT EXISTS (SELECT 1 FROM decisions WHERE idempotency_key = $1::varchar)
         ON CONFLICT (idempotency_key) ${onConflict}
         RETURNING id`,
        [
          request.idempotencyKey,
          request.studentId,
          request.courseId,
          request.priority,
          request.requestedAt,
          error,
          attempts,
        ],
      );
      return written.length > 0;
    };
    try {
      await this.dataSource.transaction(async (manager) => {
        const [course] = await this.courses.lockForAllocation(manager, [request.courseId]);
        if (await this.currentState(manager, request.idempotencyKey)) return;
        if (!(await write(manager)) || !course) return;
        await this.writeChange(manager, course.id, countersOf(course), {
          events: [deadLetterEvent('dead_lettered', request)],
          decided: 0,
        });
      });
    } catch (recordError) {
      if (isConnectionError(recordError)) throw recordError;
      await write(this.dataSource.manager);
    }
  }

  /**
   * Takes a dead letter off the list to be queued again, with a `dead_letter_retried` event, and queues it
   * (requeue) before the commit: a queue that refuses leaves it listed, and a commit that fails after the
   * job was queued leaves a duplicate the worker skips, never a loss. Returns the request, or null for an
   * unknown id.
   */
  takeDeadLetter(id: string, requeue: (letter: DeadLetter) => Promise<void>): Promise<DeadLetter | null> {
    return this.dataSource.transaction(async (manager) => {
      const taken = await this.takeOffList(manager, id);
      if (!taken) return null;
      const { letter, course } = taken;
      if (course && !(await this.currentState(manager, letter.idempotencyKey))) {
        await this.writeChange(manager, course.id, countersOf(course), {
          events: [deadLetterEvent('dead_letter_retried', letterRequest(letter))],
          decided: 0,
        });
      }
      // Queued while this transaction holds the course row: the decision waits for the commit, so it
      // follows dead_letter_retried on the record; a queue that refuses the job rolls all of it back.
      await requeue(letter);
      return letter;
    });
  }

  /**
   * Decides a dead letter's request `rejected` (reason dead_letter), its one decision, and takes it off
   * the list. Returns the dead letter as it was, or null for an unknown id.
   */
  rejectDeadLetter(id: string): Promise<DeadLetter | null> {
    return this.dataSource.transaction(async (manager) => {
      const taken = await this.takeOffList(manager, id);
      if (!taken) return null;
      const { letter, course } = taken;
      if (!(await this.currentState(manager, letter.idempotencyKey))) {
        await this.decideHere(manager, course, letterRequest(letter), 'rejected');
      }
      return letter;
    });
  }

  /**
   * Deletes a dead letter under its course's row lock, taken first, as deadLetter() takes it before
   * writing the row: one lock order everywhere, so an operator's action and a worker setting the same
   * request aside again wait for each other instead of deadlocking.
   */
  private async takeOffList(
    manager: EntityManager,
    id: string,
  ): Promise<{ letter: DeadLetter; course: Course | undefined } | null> {
    const [found]: Array<{ course_id: number }> = await manager.query(
      'SELECT course_id FROM dead_letters WHERE id = $1',
      [id],
    );
    if (!found) return null;
    const [course] = await this.courses.lockForAllocation(manager, [found.course_id]);
    // TypeORM answers a DELETE … RETURNING with [rows, affected count].
    const [[deleted]]: [Array<Record<string, unknown>>, number] = await manager.query(
      'DELETE FROM dead_letters WHERE id = $1 RETURNING *',
      [id],
    );
    return deleted ? { letter: deadLetterOf(deleted), course } : null;
  }

  /** The request's decision and, while waitlisted, its stored position; null while it is queued. */
  private async currentState(
    manager: EntityManager,
    idempotencyKey: string,
  ): Promise<{ status: DecisionStatus; position: number | null } | null> {
    const rows: Array<{ status: DecisionStatus; position: number | null }> = await manager.query(
      `SELECT d.status, w.position FROM decisions d
         LEFT JOIN waitlist_entries w ON w.idempotency_key = d.idempotency_key
        WHERE d.idempotency_key = $1`,
      [idempotencyKey],
    );
    return rows[0] ?? null;
  }

  /**
   * A queued request's one decision made here rather than by a worker: `cancelled` (withdrawn) or
   * `rejected` (a dead letter an operator rejected). The decisions table's primary key makes it the only
   * one: a worker that reaches the request later finds it decided. Its row is its event in the course's
   * record, numbered under the course row lock (none if the course is gone).
   */
  private async decideHere(
    manager: EntityManager,
    course: Course | undefined,
    request: WithdrawnRequest,
    status: 'cancelled' | 'rejected',
  ): Promise<void> {
    const seq = course ? course.eventsWritten + 1 : null;
    await manager.query(
      `INSERT INTO decisions (idempotency_key, student_id, course_id, priority, status, reason, requested_at,
                              decided_at, dropped_at, decided_as, decision_seq)
       VALUES ($1, $2, $3, $4, $6::varchar, $7, $5, now(), CASE WHEN $6::varchar = 'cancelled' THEN now() END,
               $6::varchar, $8)`,
      [
        request.idempotencyKey,
        request.studentId,
        request.courseId,
        request.priority,
        request.requestedAt,
        status,
        status === 'rejected' ? 'dead_letter' : null,
        seq,
      ],
    );
    if (course) {
      await this.writeChange(
        manager,
        course.id,
        { ...countersOf(course), eventsWritten: seq! },
        {
          events: [],
          decided: 1,
        },
      );
    }
  }

  /**
   * Removes a waitlist entry and keeps the positions dense by shifting the shorter run beside it (see
   * leaveWaitlist); the uniqueness of positions is checked at each statement's end (deferrable).
   */
  private async leaveWaitlist(
    manager: EntityManager,
    courseId: number,
    counters: CourseCounters,
    position: number,
  ): Promise<CourseCounters> {
    const departure = leaveWaitlist(counters, position);
    await manager.query('DELETE FROM waitlist_entries WHERE course_id = $1 AND position = $2', [
      courseId,
      position,
    ]);
    if (departure.shift === 'ahead') {
      await manager.query(
        `UPDATE waitlist_entries SET position = position + 1
          WHERE course_id = $1 AND position > $2 AND position < $3`,
        [courseId, counters.waitlistOffset, position],
      );
    } else if (departure.shift === 'behind') {
      await manager.query(
        'UPDATE waitlist_entries SET position = position - 1 WHERE course_id = $1 AND position > $2',
        [courseId, position],
      );
    }
    return departure.course;
  }

  /**
   * Writes a change in one statement, after the course's lock was taken and its state read: the dropped
   * request (its enrollment gone, if any, and its status), then docs/guarantees.md §6 — the waitlist's heads
   * take every free seat, in order: each leaves the waitlist, gets an enrollment, becomes `enrolled` with
   * promoted_at — then the change's events and the promotions' (numbered after the course's last event),
   * and the course's counters. One round trip under the lock instead of one per step, so drops on a hot
   * course queue behind each other for less time.
   */
  private async writeChange(
    manager: EntityManager,
    courseId: number,
    counters: CourseCounters,
    change: { events: NewEvent[]; decided: number; drop?: string },
  ): Promise<void> {
    const promotion = promote(counters);
    const after = promotion.course;
    const firstPromotedSeq = counters.eventsWritten + change.events.length + 1;
    // TypeORM answers an UPDATE … RETURNING with [rows, affected count].
    const [[row]]: [Array<{ promoted: number }>, number] = await manager.query(
      `WITH dropped AS (
         UPDATE decisions SET status = 'dropped', dropped_at = now()
          WHERE idempotency_key = $9 RETURNING idempotency_key
       ), freed AS (
         DELETE FROM enrollments WHERE idempotency_key = $9
       ), heads AS (
         DELETE FROM waitlist_entries WHERE course_id = $1 AND position >= $10 AND position < $10 + $11
         RETURNING idempotency_key, student_id, position
       ), enrolled AS (
         INSERT INTO enrollments (course_id, student_id, idempotency_key)
         SELECT $1, student_id, idempotency_key FROM heads ORDER BY position
       ), promoted AS (
         UPDATE decisions SET status = 'enrolled', promoted_at = now()
           FROM heads WHERE decisions.idempotency_key = heads.idempotency_key
       ), new_events AS (
         INSERT INTO course_changes (course_id, seq, type, idempotency_key, student_id, status, capacity)
         SELECT $1, $7 + ord, type, "idempotencyKey", "studentId", status, capacity
           FROM json_to_recordset($8::json) AS e(
             type varchar, "idempotencyKey" varchar, "studentId" varchar, status varchar, capacity int, ord int)
         UNION ALL
         SELECT $1, $12 + position - $10, 'promoted', idempotency_key, student_id, 'enrolled', NULL
           FROM heads
       )
       UPDATE courses
          SET capacity = $2, seats_taken = $3, waitlist_offset = $4, waitlist_length = $5,
              requests_decided = requests_decided + $6, events_written = $12 + $11 - 1
        WHERE id = $1
       RETURNING (SELECT count(*)::int FROM heads) AS promoted`,
      [
        courseId,
        after.capacity,
        after.seatsTaken,
        after.waitlistOffset,
        after.waitlistLength,
        change.decided,
        counters.eventsWritten,
        JSON.stringify(change.events.map((event, index) => ({ ...event, ord: index + 1 }))),
        change.drop ?? null,
        promotion.firstPosition,
        promotion.count,
        firstPromotedSeq,
      ],
    );
    if (row.promoted !== promotion.count) {
      // The counters and the rows disagree: roll back rather than write a wrong waitlist.
      throw new Error(
        `course ${courseId}: expected ${promotion.count} waitlist heads, found ${row.promoted}`,
      );
    }
  }
}

function deadLetterEvent(type: 'dead_lettered' | 'dead_letter_retried', request: WithdrawnRequest): NewEvent {
  return { type, idempotencyKey: request.idempotencyKey, studentId: request.studentId, status: 'queued' };
}

function letterRequest(letter: DeadLetter): WithdrawnRequest {
  return {
    idempotencyKey: letter.idempotencyKey,
    studentId: letter.studentId,
    courseId: letter.courseId,
    priority: letter.priority,
    requestedAt: letter.requestedAt.toISOString(),
  };
}

export function deadLetterOf(row: Record<string, unknown>): DeadLetter {
  return {
    id: String(row.id),
    idempotencyKey: row.idempotency_key as string,
    studentId: row.student_id as string,
    courseId: row.course_id as number,
    priority: row.priority as number,
    requestedAt: row.requested_at as Date,
    error: row.error as string,
    attempts: row.attempts as number,
    failedAt: row.failed_at as Date,
  };
}

function countersOf(course: Course): CourseCounters {
  return {
    capacity: course.capacity,
    seatsTaken: course.seatsTaken,
    waitlistOffset: course.waitlistOffset,
    waitlistLength: course.waitlistLength,
    eventsWritten: course.eventsWritten,
  };
}
