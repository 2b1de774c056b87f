import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { DecisionStatus, RejectionReason } from './decision.entity.js';

export interface DecidedRequest {
  idempotencyKey: string;
  studentId: string;
  courseId: number;
  priority: number;
  status: DecisionStatus;
  reason: RejectionReason | null;
  waitlistPosition: number | null;
  requestedAt: Date;
  decidedAt: Date;
}

/** The read side of allocation: what became of a request. */
@Injectable()
export class DecisionsService {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** The decisions among these keys, by key: one indexed read for a whole batch. */
  async findMany(idempotencyKeys: readonly string[]): Promise<Map<string, DecidedRequest>> {
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT idempotency_key, student_id, course_id, priority, status, reason, requested_at, decided_at
         FROM decisions WHERE idempotency_key = ANY($1::varchar[])`,
      [idempotencyKeys],
    );
    return new Map(rows.map((row) => [row.idempotency_key as string, decidedRequestOf(row)]));
  }

  async find(idempotencyKey: string): Promise<DecidedRequest | null> {
    // The waitlist place is the entry's rank among the entries still present, counted on the
    // (course_id, position) index.
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT d.idempotency_key, d.student_id, d.course_id, d.priority, d.status, d.reason,
              d.requested_at, d.decided_at,
              (SELECT count(*) FROM waitlist_entries ahead
                WHERE ahead.course_id = w.course_id AND ahead.position <= w.position)::int AS waitlist_position
         FROM decisions d
         LEFT JOIN waitlist_entries w ON w.idempotency_key = d.idempotency_key
        WHERE d.idempotency_key = $1`,
      [idempotencyKey],
    );
    return rows[0] ? decidedRequestOf(rows[0]) : null;
  }
}

function decidedRequestOf(row: Record<string, unknown>): DecidedRequest {
  return {
    idempotencyKey: row.idempotency_key as string,
    studentId: row.student_id as string,
    courseId: row.course_id as number,
    priority: row.priority as number,
    status: row.status as DecisionStatus,
    reason: row.reason as RejectionReason | null,
    waitlistPosition:
      row.status === 'waitlisted' ? ((row.waitlist_position as number | undefined) ?? null) : null,
    requestedAt: row.requested_at as Date,
    decidedAt: row.decided_at as Date,
  };
}
