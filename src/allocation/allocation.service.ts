import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager, QueryFailedError } from 'typeorm';
import { CoursesService } from '../courses/courses.service.js';
import type { AllocationJobData, QueuedRequest } from '../enrollment/enrollment.queue.js';
import { decideBatch, type Hold, type RequestDecision } from './allocation.rules.js';
import { Decision } from './decision.entity.js';
import { Enrollment } from './enrollment.entity.js';
import { WaitlistEntry } from './waitlist-entry.entity.js';

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
        return await this.dataSource.transaction('READ COMMITTED', (manager) =>
          this.decideLocked(manager, job),
        );
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

  private async decideLocked(manager: EntityManager, job: AllocationJobData): Promise<RequestDecision[]> {
    const course = await this.courses.lockForAllocation(manager, job.courseId);
    const pending = await this.undecided(manager, job.requests);
    if (pending.length === 0) return [];

    const holds = await this.holdsOf(manager, job.courseId, pending);
    const outcome = decideBatch(course, holds, pending);
    const byKey = new Map(pending.map((request) => [request.idempotencyKey, request]));
    const decidedAt = new Date();

    await manager.insert(
      Decision,
      outcome.decisions.map((decision) => ({
        idempotencyKey: decision.idempotencyKey,
        studentId: decision.studentId,
        courseId: job.courseId,
        priority: job.priority,
        status: decision.status,
        reason: decision.reason,
        requestedAt: new Date(byKey.get(decision.idempotencyKey)!.requestedAt),
        decidedAt,
      })),
    );
    const enrolled = outcome.decisions.filter((decision) => decision.status === 'enrolled');
    if (enrolled.length > 0) {
      await manager.insert(
        Enrollment,
        enrolled.map(({ idempotencyKey, studentId }) => ({
          courseId: job.courseId,
          studentId,
          idempotencyKey,
        })),
      );
    }
    const waitlisted = outcome.decisions.filter((decision) => decision.status === 'waitlisted');
    if (waitlisted.length > 0) {
      const lastPosition = await this.lastWaitlistPosition(manager, job.courseId);
      await manager.insert(
        WaitlistEntry,
        waitlisted.map(({ idempotencyKey, studentId }, index) => ({
          courseId: job.courseId,
          studentId,
          idempotencyKey,
          position: lastPosition + index + 1,
        })),
      );
    }
    await this.courses.recordAllocation(manager, course, {
      seatsTaken: outcome.seatsTaken,
      waitlistLength: course.waitlistLength + waitlisted.length,
      decided: outcome.decisions.length,
    });
    return outcome.decisions;
  }

  private async undecided(manager: EntityManager, requests: QueuedRequest[]): Promise<QueuedRequest[]> {
    const rows: Array<{ idempotency_key: string }> = await manager.query(
      'SELECT idempotency_key FROM decisions WHERE idempotency_key = ANY($1)',
      [requests.map((request) => request.idempotencyKey)],
    );
    const decided = new Set(rows.map((row) => row.idempotency_key));
    return requests.filter((request) => !decided.has(request.idempotencyKey));
  }

  private async holdsOf(
    manager: EntityManager,
    courseId: number,
    requests: QueuedRequest[],
  ): Promise<Map<string, Hold>> {
    const students = [...new Set(requests.map((request) => request.studentId))];
    const rows: Array<{ student_id: string; hold: Hold }> = await manager.query(
      `SELECT student_id, 'enrolled' AS hold FROM enrollments WHERE course_id = $1 AND student_id = ANY($2)
       UNION ALL
       SELECT student_id, 'waitlisted' AS hold FROM waitlist_entries WHERE course_id = $1 AND student_id = ANY($2)`,
      [courseId, students],
    );
    return new Map(rows.map((row) => [row.student_id, row.hold]));
  }

  private async lastWaitlistPosition(manager: EntityManager, courseId: number): Promise<number> {
    const rows: Array<{ last: number }> = await manager.query(
      'SELECT COALESCE(MAX(position), 0)::int AS last FROM waitlist_entries WHERE course_id = $1',
      [courseId],
    );
    return rows[0].last;
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
