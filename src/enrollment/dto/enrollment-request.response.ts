import type { DecidedRequest } from '../../decisions/decisions.service.js';
import type { AcceptedRequest } from '../../queue/allocation-queue.contract.js';
import { ApiProperty } from '@nestjs/swagger';

export const REQUEST_STATUSES = [
  'queued',
  'enrolled',
  'waitlisted',
  'rejected',
  'cancelled',
  'dropped',
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/**
 * A request as clients see it: queued until a worker decides it, then its one decision, then only
 * promotion (waitlisted → enrolled) or a drop.
 */
export class EnrollmentRequestResponse {
  @ApiProperty({ example: 'portal-7f3a9c1e' })
  idempotency_key!: string;

  @ApiProperty({ example: 's-0042' })
  student_id!: string;

  @ApiProperty({ example: 1 })
  course_id!: number;

  @ApiProperty({ example: 0 })
  priority!: number;

  @ApiProperty({
    enum: REQUEST_STATUSES,
    enumName: 'RequestStatus',
    example: 'queued',
    description:
      'queued until decided; then enrolled, waitlisted, rejected, or cancelled (withdrawn while queued); ' +
      'waitlisted may become enrolled (promoted); enrolled or waitlisted may become dropped',
  })
  status!: RequestStatus;

  @ApiProperty({
    type: Number,
    nullable: true,
    example: null,
    description: 'Current 1-based place in the waitlist (1 + waiting requests ahead); null unless waitlisted',
  })
  waitlist_position!: number | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: null,
    enum: ['already_enrolled', 'already_waitlisted', 'course_not_found'],
    enumName: 'RejectionReason',
    description: 'Set only when rejected',
  })
  reason!: string | null;

  @ApiProperty({ example: '2026-11-25T09:00:00.000Z' })
  requested_at!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null })
  decided_at!: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    example: null,
    description: 'When a waitlisted request was enrolled',
  })
  promoted_at!: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    example: null,
    description: 'When the request was dropped or cancelled',
  })
  dropped_at!: string | null;
}

/** A request not decided yet, as its claim records it. */
export function queuedView(key: string, request: Omit<AcceptedRequest, 'jobId'>): EnrollmentRequestResponse {
  return {
    idempotency_key: key,
    student_id: request.studentId,
    course_id: request.courseId,
    priority: request.priority,
    status: 'queued',
    waitlist_position: null,
    reason: null,
    requested_at: request.requestedAt,
    decided_at: null,
    promoted_at: null,
    dropped_at: null,
  };
}

/** A decided request, as it stands now. */
export function decidedView(decided: DecidedRequest): EnrollmentRequestResponse {
  return {
    idempotency_key: decided.idempotencyKey,
    student_id: decided.studentId,
    course_id: decided.courseId,
    priority: decided.priority,
    status: decided.status,
    waitlist_position: decided.waitlistPosition,
    reason: decided.reason,
    requested_at: decided.requestedAt.toISOString(),
    decided_at: decided.decidedAt.toISOString(),
    promoted_at: decided.promotedAt?.toISOString() ?? null,
    dropped_at: decided.droppedAt?.toISOString() ?? null,
  };
}
