import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { CoursesService } from '../courses/courses.service.js';
import { isConnectionError, isRetryableDatabaseError, sqlStateOf } from '../database/database-errors.js';
import type { AllocationJobData, QueuedRequest } from '../queue/allocation-queue.contract.js';
import { type CounterChange, decideJob, type Hold, type JobDecision } from './allocation.rules.js';
import { messageOf } from '../errors/error-message.js';

/**
 * Tries of one transaction inside the worker for an error that is neither an outage nor permanent (a
 * deadlock, a lost insert race): past this the job leaves the head of its partition (it fails), so one
 * request that keeps violating a constraint cannot stall the courses behind it.
 */
const IN_PROCESS_ATTEMPTS = 4;
const FIRST_BACKOFF_MS = 100;

/**
 * The locked transaction: the job's course rows under pessimistic_write, each course's requests decided by the
 * pure rules in arbitration order, and all rows written before the locks are released.
 */
@Injectable()
export class AllocationService {
  private readonly logger = new Logger(AllocationService.name);

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(CoursesService) private readonly courses: CoursesService,
  ) {}

  /**
   * Decides the requests of one or more jobs, given in arbitration order, in one transaction; retries
   * contention errors a bounded number of times with backoff. A redelivered job finds its requests already
   * decided and decides nothing again. Returns only the decisions made by this call. Throws
   * DatabaseUnavailableError when PostgreSQL cannot be reached: the job then waits at the head of its queue,
   * however long the outage lasts.
   */
  decide(...jobs: AllocationJobData[]): Promise<AllocationDecision[]> {
    return this.decideThen(jobs, () => undefined);
  }

  /**
   * decide(), calling onLocked each time a transaction holds the course rows' locks: the worker reads the
   * next batch from then on, so a batch is never read before the transaction ahead of it has begun.
   */
  async decideThen(jobs: readonly AllocationJobData[], onLocked: () => void): Promise<AllocationDecision[]> {
    const requests = jobs.flatMap((job) =>
      job.requests.map((request): PrioritizedRequest => ({ ...request, priority: job.priority })),
    );
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.dataSource.transaction((manager) => this.decideLocked(manager, requests, onLocked));
      } catch (error) {
        // A lost connection is often one backend, not the server: try again here first.
        const outage = await this.isOutage(error);
        if (!outage && !isRetryableDatabaseError(error)) throw error;
        if (attempt >= IN_PROCESS_ATTEMPTS) throw outage ? new DatabaseUnavailableError(error) : error;
        const delay = FIRST_BACKOFF_MS * 2 ** (attempt - 1);
        this.logger.warn(
          `${describeRequests(requests)}: transient database error (${messageOf(error)}); retry in ${delay} ms`,
        );
        await sleep(delay);
      }
    }
  }

  /**
   * An error names a connection problem, or carries no SQLSTATE (the server did not answer it) and the
   * database does not answer a ping either: either way the job is not at fault.
   */
  private async isOutage(error: unknown): Promise<boolean> {
    if (isConnectionError(error)) return true;
    if (sqlStateOf(error) !== undefined) return false;
    try {
      await this.dataSource.query('SELECT 1');
      return false;
    } catch {
      return true;
    }
  }

  /**
   * Lock, read, decide, write: the courses' row locks, one read of what the job needs, the pure rules, then
   * every decision, enrollment, waitlist entry and course counter in one statement.
   */
  private async decideLocked(
    manager: EntityManager,
    requests: readonly PrioritizedRequest[],
    onLocked: () => void,
  ): Promise<AllocationDecision[]> {
    const courseIds = [...new Set(requests.map((request) => request.courseId))];
    if (courseIds.length === 0) return [];
    const courses = await this.courses.lockForAllocation(manager, courseIds);
    onLocked();
    const state = await this.readState(manager, requests);
    const pending = requests.filter((request) => !state.decided.has(request.idempotencyKey));
    if (pending.length === 0) return [];

    const outcome = decideJob(
      courses.map((course) => ({
        id: course.id,
        capacity: course.capacity,
        seatsTaken: course.seatsTaken,
        waitlistOffset: course.waitlistOffset,
        waitlistLength: course.waitlistLength,
        eventsWritten: course.eventsWritten,
        holds: state.holdsIn(course.id),
      })),
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
    await this.writeDecisions(manager, decisions, outcome.counters);
    return decisions;
  }

  /**
   * Which requests are decided already (a redelivery, or cancelled while queued) and what the students
   * hold. Where each waitlist ends comes with the course row (offset + length).
   */
  private async readState(manager: EntityManager, requests: readonly PrioritizedRequest[]) {
    const [row]: Array<{
      decided: string[];
      held: Array<[number, string, Hold]>;
    }> = await manager.query(
      `SELECT ARRAY(SELECT idempotency_key FROM decisions WHERE idempotency_key = ANY($1::varchar[])) AS decided,
              (SELECT COALESCE(json_agg(json_build_array(course_id, student_id, hold)), '[]')
                 FROM (SELECT course_id, student_id, 'enrolled' AS hold FROM enrollments
                        WHERE (course_id, student_id) IN (SELECT * FROM unnest($2::int[], $3::varchar[]))
                       UNION ALL
                       SELECT course_id, student_id, 'waitlisted' FROM waitlist_entries
                        WHERE (course_id, student_id) IN (SELECT * FROM unnest($2::int[], $3::varchar[]))) h) AS held`,
      [
        requests.map((request) => request.idempotencyKey),
        requests.map((request) => request.courseId),
        requests.map((request) => request.studentId),
      ],
    );
    const holds = new Map<number, Map<string, Hold>>();
    for (const [courseId, studentId, hold] of row.held) {
      if (!holds.has(courseId)) holds.set(courseId, new Map());
      holds.get(courseId)!.set(studentId, hold);
    }
    return {
      decided: new Set(row.decided),
      holdsIn: (courseId: number): ReadonlyMap<string, Hold> => holds.get(courseId) ?? new Map(),
    };
  }

  /**
   * The decisions (each with its number in its course's record: a decision row is its own event), the new
   * enrollments, the new waitlist entries and the courses' counters as one statement. The batch travels as one JSON parameter (PostgreSQL's json_to_recordset reads it by field
   * name), which costs the worker far less than serializing a parameter array per column. The course rows
   * are written here rather than through CoursesService to save a round trip per batch; their locks were
   * taken by CoursesService.lockForAllocation.
   */
  private async writeDecisions(
    manager: EntityManager,
    decisions: AllocationDecision[],
    changes: CounterChange[],
  ): Promise<void> {
    await manager.query(
      `WITH d AS MATERIALIZED (
         SELECT * FROM json_to_recordset($1::json) AS d(
           "idempotencyKey" varchar, "studentId" varchar, "courseId" int, priority smallint, status varchar,
           reason varchar, "requestedAt" timestamptz, "waitlistPosition" int, "waitlistPlace" int, seq int, ord int)
       ), new_decisions AS (
         INSERT INTO decisions (idempotency_key, student_id, course_id, priority, status, reason, requested_at, decided_at,
                                decided_as, decision_seq, decided_place)
         SELECT "idempotencyKey", "studentId", "courseId", priority, status, reason, "requestedAt", now(),
                status, seq, "waitlistPlace" FROM d ORDER BY ord
       ), new_enrollments AS (
         INSERT INTO enrollments (course_id, student_id, idempotency_key)
         SELECT "courseId", "studentId", "idempotencyKey" FROM d WHERE status = 'enrolled' ORDER BY ord
       ), new_waitlist_entries AS (
         INSERT INTO waitlist_entries (course_id, student_id, idempotency_key, position)
         SELECT "courseId", "studentId", "idempotencyKey", "waitlistPosition" FROM d WHERE status = 'waitlisted' ORDER BY ord
       )
       UPDATE courses
          SET seats_taken = c."seatsTaken",
              waitlist_length = courses.waitlist_length + c.waitlisted,
              requests_decided = courses.requests_decided + c.decided,
              events_written = c."eventsWritten"
         FROM json_to_recordset($2::json) AS c("courseId" int, "seatsTaken" int, waitlisted int, decided int, "eventsWritten" int)
        WHERE courses.id = c."courseId"`,
      [JSON.stringify(decisions.map((decision, ord) => ({ ...decision, ord }))), JSON.stringify(changes)],
    );
  }
}

/** A queued request with the priority of the job that carries it. */
interface PrioritizedRequest extends QueuedRequest {
  priority: number;
}

/** A decision as the worker reports it: the rules' verdict with the request's priority and acceptance time. */
export interface AllocationDecision extends JobDecision {
  priority: number;
  requestedAt: string;
}

/** The database cannot be reached; the job is not at fault and waits at the head of its queue. */
export class DatabaseUnavailableError extends Error {
  constructor(override readonly cause: unknown) {
    super(`database unavailable: ${messageOf(cause)}`);
    this.name = 'DatabaseUnavailableError';
  }
}

/** For logs: how many requests, for which courses. */
export function describeRequests(requests: readonly QueuedRequest[]): string {
  const courses = [...new Set(requests.map((request) => request.courseId))];
  const shown = courses.length > 10 ? `${courses.slice(0, 10).join(', ')}, …` : courses.join(', ');
  return `${requests.length} request(s) for course${courses.length > 1 ? 's' : ''} ${shown}`;
}
