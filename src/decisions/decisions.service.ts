import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { DecisionStatus, DropReason, RejectionReason } from './decision.entity.js';

export interface DecidedRequest {
  idempotencyKey: string;
  studentId: string;
  courseId: number;
  priority: number;
  status: DecisionStatus;
  reason: RejectionReason | DropReason | null;
  waitlistPosition: number | null;
  requestedAt: Date;
  decidedAt: Date;
  promotedAt: Date | null;
  droppedAt: Date | null;
  /** The request this one replaces if it gets its seat (contract v3, Swap); null if none. */
  swapFor: string | null;
  /** While offered: the deadline to accept the held seat (contract v3, Offers). */
  offerExpiresAt: Date | null;
  /** Its place in its course's opening draw (contract v3, Fair opening); null if it was not drawn. */
  drawRank?: number | null;
  /**
   * Why a waiting request cannot be promoted now (guarantee 8); worked out from the student's schedule
   * by the schedules module when a view needs it, null otherwise.
   */
  blockedReason?: 'time_conflict' | 'max_credits' | null;
}

const COLUMNS = `d.idempotency_key, d.student_id, d.course_id, d.priority, d.status, d.reason,
                 d.requested_at, d.decided_at, d.promoted_at, d.dropped_at, d.swap_for,
                 d.offer_expires_at, d.draw_rank`;

/** The read side of allocation: what became of a request. */
@Injectable()
export class DecisionsService {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** The decisions among these keys, by key: one indexed read for a whole batch. */
  async findMany(idempotencyKeys: readonly string[]): Promise<Map<string, DecidedRequest>> {
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM decisions d WHERE d.idempotency_key = ANY($1::varchar[])`,
      [idempotencyKeys],
    );
    return new Map(rows.map((row) => [row.idempotency_key as string, decidedRequestOf(row)]));
  }

  /**
   * The request's decision and current state. Waitlist positions are dense behind the course's offset, so
   * the current place is one subtraction on two rows read by key: cheap enough for a portal's polling.
   * With `manager`, read inside that transaction.
   */
  async find(idempotencyKey: string, manager?: EntityManager): Promise<DecidedRequest | null> {
    const rows = await this.withPlaces('d.idempotency_key = $1', [idempotencyKey], manager);
    return rows[0] ?? null;
  }

  /** A course's live offers, earliest deadline first. */
  offeredIn(courseId: number, manager?: EntityManager): Promise<DecidedRequest[]> {
    return this.withPlaces(
      `d.course_id = $1 AND d.status = 'offered' ORDER BY d.offer_expires_at, d.idempotency_key`,
      [courseId],
      manager,
    );
  }

  /** A student's decided requests, newest first (by acceptance time). */
  findByStudent(studentId: string): Promise<DecidedRequest[]> {
    return this.withPlaces('d.student_id = $1 ORDER BY d.requested_at DESC, d.idempotency_key DESC', [
      studentId,
    ]);
  }

  private async withPlaces(
    where: string,
    parameters: unknown[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<DecidedRequest[]> {
    const rows: Array<Record<string, unknown>> = await manager.query(
      `SELECT ${COLUMNS}, w.position - c.waitlist_offset AS waitlist_position
         FROM decisions d
         LEFT JOIN waitlist_entries w ON w.idempotency_key = d.idempotency_key
         LEFT JOIN courses c ON c.id = w.course_id
        WHERE ${where}`,
      parameters,
    );
    return rows.map(decidedRequestOf);
  }
}

function decidedRequestOf(row: Record<string, unknown>): DecidedRequest {
  return {
    idempotencyKey: row.idempotency_key as string,
    studentId: row.student_id as string,
    courseId: row.course_id as number,
    priority: row.priority as number,
    status: row.status as DecisionStatus,
    reason: row.reason as RejectionReason | DropReason | null,
    waitlistPosition:
      row.status === 'waitlisted' ? ((row.waitlist_position as number | undefined) ?? null) : null,
    requestedAt: row.requested_at as Date,
    decidedAt: row.decided_at as Date,
    promotedAt: (row.promoted_at as Date | null) ?? null,
    droppedAt: (row.dropped_at as Date | null) ?? null,
    swapFor: (row.swap_for as string | null) ?? null,
    offerExpiresAt: (row.offer_expires_at as Date | null) ?? null,
    drawRank: (row.draw_rank as number | null) ?? null,
  };
}
