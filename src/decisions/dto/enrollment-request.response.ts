import {
  IDEMPOTENCY_KEY_PATTERN,
  REQUEST_STATUSES,
  type RequestStatus,
  STUDENT_ID_PATTERN,
} from '../vocabulary.js';
import type { DecidedRequest } from '../decisions.service.js';
import type { AcceptedRequest } from '../../queue/allocation-queue.contract.js';
import { ApiProperty } from '@nestjs/swagger';
import {
  DROP_REASONS,
  type DropReason,
  REJECTION_REASONS,
  type RejectionReason,
} from '../decision.entity.js';
import { DATE_TIME_SCHEMA } from '../../http/date-time.js';
import { ClosedSchema } from '../../http/closed-schema.js';

/**
 * A request as clients see it: queued until a worker decides it, then its one decision, then only
 * promotion (waitlisted → enrolled) or a drop.
 */
@ClosedSchema()
export class EnrollmentRequestResponse {
  @ApiProperty({
    example: 'portal-7f3a9c1e',
    pattern: IDEMPOTENCY_KEY_PATTERN.source,
    minLength: 1,
    maxLength: 128,
  })
  idempotency_key!: string;

  @ApiProperty({ example: 's-0042', pattern: STUDENT_ID_PATTERN.source, minLength: 1, maxLength: 64 })
  student_id!: string;

  @ApiProperty({ type: 'integer', minimum: 1, maximum: 2_147_483_647, example: 1 })
  course_id!: number;

  @ApiProperty({ type: 'integer', minimum: 0, maximum: 100, example: 10 })
  priority!: number;

  @ApiProperty({
    enum: REQUEST_STATUSES,
    enumName: 'RequestStatus',
    example: 'queued',
    description:
      'queued until decided; then enrolled, waitlisted, rejected, or cancelled (withdrawn while queued); ' +
      'waitlisted may become enrolled (promoted) or, in an offer-mode course, offered (a seat held until ' +
      'offer_expires_at), then enrolled (accepted) or dropped (declined, offer_expired); enrolled or ' +
      'waitlisted may become dropped',
  })
  status!: RequestStatus;

  @ApiProperty({
    type: 'integer',
    minimum: 1,
    nullable: true,
    example: null,
    description: 'Current 1-based place in the waitlist (1 + waiting requests ahead); null unless waitlisted',
  })
  waitlist_position!: number | null;

  // Inline, with null among the values: a nullable enum that leaves null out rejects its own null.
  @ApiProperty({
    type: String,
    nullable: true,
    example: null,
    enum: [...REJECTION_REASONS, ...DROP_REASONS, null],
    description:
      'Set when rejected, or when dropped for a cause; dead_letter: an operator rejected a request that ' +
      "could not be decided; time_conflict, max_credits, max_waitlisted: the student's schedule refused it " +
      '(guarantee 8); swap_target_gone: the request swap_for names was no longer held at the decision; ' +
      'swapped: dropped because the request that named it in swap_for got its seat',
  })
  reason!: RejectionReason | DropReason | null;

  @ApiProperty({ ...DATE_TIME_SCHEMA, example: '2026-11-25T09:00:00.000Z' })
  requested_at!: string;

  @ApiProperty({ ...DATE_TIME_SCHEMA, nullable: true, example: null })
  decided_at!: string | null;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    example: null,
    description: 'When a waitlisted request was enrolled',
  })
  promoted_at!: string | null;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    example: null,
    description: 'When the request was dropped or cancelled',
  })
  dropped_at!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: null,
    pattern: IDEMPOTENCY_KEY_PATTERN.source,
    minLength: 1,
    maxLength: 128,
    description:
      'The request of the same student, for another course, that this one replaces: it is dropped ' +
      '(reason swapped) in the transaction that enrolls this one, and only then; null if none',
  })
  swap_for!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: null,
    enum: ['time_conflict', 'max_credits', null],
    description:
      "Why a waitlisted request cannot be promoted now (the student's schedule, guarantee 8): it keeps " +
      'its place and is promoted as soon as the block lifts while a seat is free; null otherwise',
  })
  blocked_reason!: 'time_conflict' | 'max_credits' | null;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    example: null,
    description:
      'While offered: the deadline to accept the seat held for it (POST /enrollments/:key/accept); null otherwise',
  })
  offer_expires_at!: string | null;

  @ApiProperty({
    type: 'integer',
    minimum: 1,
    nullable: true,
    example: null,
    description:
      "The request's 1-based place in its course's opening draw (contract v3, Fair opening); null if it " +
      'was not drawn (not a draw entry, or its draw is not made yet)',
  })
  draw_rank!: number | null;
}

/** The v3 fields, in the contract's order. */
const withV3 = (
  swapFor: string | null,
  blockedReason: EnrollmentRequestResponse['blocked_reason'],
  offerExpiresAt: Date | null = null,
  drawRank: number | null = null,
) => ({
  swap_for: swapFor,
  blocked_reason: blockedReason,
  offer_expires_at: offerExpiresAt?.toISOString() ?? null,
  draw_rank: drawRank,
});

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
    ...withV3(request.swapFor ?? null, null),
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
    ...withV3(
      decided.swapFor,
      decided.status === 'waitlisted' ? (decided.blockedReason ?? null) : null,
      decided.status === 'offered' ? decided.offerExpiresAt : null,
      decided.drawRank ?? null,
    ),
  };
}
