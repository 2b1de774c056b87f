import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager, QueryFailedError } from 'typeorm';
import { CoursesService } from '../courses/courses.service.js';
import type { AllocationJobData, QueuedRequest } from '../enrollment/enrollment.queue.js';
import { decideBatch, type Hold, type RequestDecision } from './allocation.rules.js';

/** Tries of one transaction inside the worker before the job goes back to the head of its queue. */
const IN_PROCESS_ATTEMPTS = 4;
const FIRST_BACKOFF_MS = 100;

/**
 * The locked transaction: one course row under pessimistic_write, the requests decided by the pure rules in
 * arbitration order, and all rows written before the lock is released.
 */
@Injectable()
export class AllocationService {
  private readonly logger = new Logger(AllocationService.name);

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(CoursesService) private readonly courses: CoursesService,
  ) {}

  /**
   * Decides a job's requests; retries transient database errors with backoff. A redelivered job finds its
   * requests already decided and decides nothing again. Returns only the decisions made by this call.
   */
  async decide(job: AllocationJobData): Promise<RequestDecision[]> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.dataSource.transaction((manager) => this.decideLocked(manager, job));
      } catch (error) {
        if (!isTransientDatabaseError(error) || attempt >= IN_PROCESS_ATTEMPTS) throw error;
        const delay = FIRST_BACKOFF_MS * 2 ** (attempt - 1);
        this.logger.warn(
          `course ${job.courseId}: transient database error (${describe(error)}); retry in ${delay} ms`,
        );
        await sleep(delay);
      }
    }
  }

  /**
   * Four statements under the lock whatever the batch size: take the lock, read what the batch needs, write
   * every row of the decisions in one multi-row statement, update the course.
   */
  private async decideLocked(manager: EntityManager, job: AllocationJobData): Promise<RequestDecision[]> {
    const course = await this.courses.lockForAllocation(manager, job.courseId);
    const state = await this.readState(manager, job);
    const pending = job.requests.filter((request) => !state.decided.has(request.idempotencyKey));
    if (pending.length === 0) return [];

    const outcome = decideBatch(course, state.holds, pending);
    const waitlisted = outcome.decisions.filter((decision) => decision.status === 'waitlisted');
    await this.writeDecisions(manager, job, pending, outcome.decisions, state.lastWaitlistPosition);
    await this.courses.recordAllocation(manager, course, {
      seatsTaken: outcome.seatsTaken,
      waitlistLength: course.waitlistLength + waitlisted.length,
      decided: outcome.decisions.length,
    });
    return outcome.decisions;
  }

  /** Which requests are decided already (a redelivery), what the students hold, where the waitlist ends. */
  private async readState(manager: EntityManager, job: AllocationJobData) {
    const keys = job.requests.map((request) => request.idempotencyKey);
    const students = [...new Set(job.requests.map((request) => request.studentId))];
    const [row]: Array<{
      decided: string[];
      enrolled: string[];
      waitlisted: string[];
      last_position: number;
    }> = await manager.query(
      `SELECT ARRAY(SELECT idempotency_key FROM decisions WHERE idempotency_key = ANY($1::varchar[])) AS decided,
                ARRAY(SELECT student_id FROM enrollments
                       WHERE course_id = $2 AND student_id = ANY($3::varchar[])) AS enrolled,
                ARRAY(SELECT student_id FROM waitlist_entries
                       WHERE course_id = $2 AND student_id = ANY($3::varchar[])) AS waitlisted,
                (SELECT COALESCE(MAX(position), 0) FROM waitlist_entries WHERE course_id = $2)::int AS last_position`,
      [keys, job.courseId, students],
    );
    const holds = new Map<string, Hold>([
      ...row.enrolled.map((student): [string, Hold] => [student, 'enrolled']),
      ...row.waitlisted.map((student): [string, Hold] => [student, 'waitlisted']),
    ]);
    return { decided: new Set(row.decided), holds, lastWaitlistPosition: row.last_position };
  }

  /** The decisions, the new enrollments and the new waitlist entries, as one multi-row statement. */
  private async writeDecisions(
    manager: EntityManager,
    job: AllocationJobData,
    pending: QueuedRequest[],
    decisions: RequestDecision[],
    lastWaitlistPosition: number,
  ): Promise<void> {
    const requestedAt = new Map(pending.map((request) => [request.idempotencyKey, request.requestedAt]));
    const enrolled = decisions.filter((decision) => decision.status === 'enrolled');
    const waitlisted = decisions.filter((decision) => decision.status === 'waitlisted');
    await manager.query(
      `WITH new_decisions AS (
         INSERT INTO decisions (idempotency_key, student_id, course_id, priority, status, reason, requested_at, decided_at)
         SELECT key, student, $1, $2, status, reason, requested_at, now()
           FROM unnest($3::varchar[], $4::varchar[], $5::varchar[], $6::varchar[], $7::timestamptz[])
                AS d(key, student, status, reason, requested_at)
       ), new_enrollments AS (
         INSERT INTO enrollments (course_id, student_id, idempotency_key)
         SELECT $1, student, key FROM unnest($8::varchar[], $9::varchar[]) AS e(key, student)
       )
       INSERT INTO waitlist_entries (course_id, student_id, idempotency_key, position)
       SELECT $1, student, key, $12 + ordinality
         FROM unnest($10::varchar[], $11::varchar[]) WITH ORDINALITY AS w(key, student, ordinality)`,
      [
        job.courseId,
        job.priority,
        decisions.map((decision) => decision.idempotencyKey),
        decisions.map((decision) => decision.studentId),
        decisions.map((decision) => decision.status),
        decisions.map((decision) => decision.reason),
        decisions.map((decision) => requestedAt.get(decision.idempotencyKey)),
        enrolled.map((decision) => decision.idempotencyKey),
        enrolled.map((decision) => decision.studentId),
        waitlisted.map((decision) => decision.idempotencyKey),
        waitlisted.map((decision) => decision.studentId),
        lastWaitlistPosition,
      ],
    );
  }
}

/** PostgreSQL error classes worth another try: connection trouble, contention, and a lost insert race. */
const TRANSIENT_SQLSTATE = /^(08|40|53|55P03|57P0|23505)/;

export function isTransientDatabaseError(error: unknown): boolean {
  if (error instanceof QueryFailedError) {
    const code = (error.driverError as { code?: string }).code ?? '';
    return TRANSIENT_SQLSTATE.test(code);
  }
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: string }).code ?? '';
  return (
    TRANSIENT_SQLSTATE.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(code) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(error.message)
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
