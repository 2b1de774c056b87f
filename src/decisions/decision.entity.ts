import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** A request's state once decided: its decision, then only promotion (waitlisted → enrolled) or a drop. */
export type DecisionStatus = 'enrolled' | 'waitlisted' | 'offered' | 'rejected' | 'cancelled' | 'dropped';
/**
 * course_not_found: the course row is gone (courses are never deleted by the API; a safety net);
 * dead_letter: an operator rejected a request that could not be decided;
 * time_conflict, max_credits, max_waitlisted: the student's schedule refused it (guarantee 8);
 * swap_target_gone: the request its swap_for names was no longer held at its decision.
 */
export const REJECTION_REASONS = [
  'already_enrolled',
  'already_waitlisted',
  'course_not_found',
  'dead_letter',
  'time_conflict',
  'max_credits',
  'max_waitlisted',
  'swap_target_gone',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];
/** Why a request was dropped, where the drop has a cause other than its student's DELETE (v3). */
export const DROP_REASONS = ['swapped', 'declined', 'offer_expired'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/**
 * The one decision an accepted request ends in, and its state since. The primary key on the idempotency key
 * is what makes a redelivered job, or a cancellation racing it, decide nothing twice. After the decision the
 * row changes only by promotion or drop; the events table is the record of every change.
 */
@Entity({ name: 'decisions' })
@Index('decisions_course_decision_seq_key', ['courseId', 'decisionSeq'], { unique: true })
@Index('decisions_student_id_idx', ['studentId'])
@Check(
  'decisions_status_known',
  `"status" IN ('enrolled', 'waitlisted', 'offered', 'rejected', 'cancelled', 'dropped')`,
)
@Index('decisions_live_offers_idx', ['offerExpiresAt'], { where: `"status" = 'offered'` })
export class Decision {
  @PrimaryColumn({ name: 'idempotency_key', type: 'varchar', length: 128 })
  idempotencyKey!: string;

  @Column({ name: 'student_id', type: 'varchar', length: 64 })
  studentId!: string;

  @Column({ name: 'course_id', type: 'integer' })
  courseId!: number;

  @Column({ type: 'smallint' })
  priority!: number;

  @Column({ type: 'varchar', length: 16 })
  status!: DecisionStatus;

  /** Why it was rejected, or why it was dropped where the drop had a cause (swapped). */
  @Column({ type: 'varchar', length: 32, nullable: true })
  reason!: RejectionReason | DropReason | null;

  /** The request of the same student this one replaces if it gets its seat (contract v3, Swap). */
  @Column({ name: 'swap_for', type: 'varchar', length: 128, nullable: true })
  swapFor!: string | null;

  @Column({ name: 'requested_at', type: 'timestamptz' })
  requestedAt!: Date;

  @Column({ name: 'decided_at', type: 'timestamptz' })
  decidedAt!: Date;

  /**
   * The decision as it was made (status may change since: promoted, dropped); with decision_seq and
   * decided_place this row is the request's first event in its course's record (view course_events).
   */
  @Column({ name: 'decided_as', type: 'varchar', length: 16 })
  decidedAs!: DecisionStatus;

  /** The decision's sequence number in its course's record; null only for a course that does not exist. */
  @Column({ name: 'decision_seq', type: 'integer', nullable: true })
  decisionSeq!: number | null;

  /** The waitlist place the decision gave (null unless waitlisted). */
  @Column({ name: 'decided_place', type: 'integer', nullable: true })
  decidedPlace!: number | null;

  /** When a waitlisted request was enrolled later. */
  @Column({ name: 'promoted_at', type: 'timestamptz', nullable: true })
  promotedAt!: Date | null;

  /** The transaction that made the decision (its event's txid); null for decisions made before v3. */
  @Column({ type: 'bigint', nullable: true, default: () => 'txid_current()' })
  txid!: string | null;

  /** While offered: the deadline to accept the seat held for it (offer mode). */
  @Column({ name: 'offer_expires_at', type: 'timestamptz', nullable: true })
  offerExpiresAt!: Date | null;

  /** When the request was dropped, or cancelled while queued. */
  /** The request's 1-based place in its course's opening draw (contract v3); null if it was not drawn. */
  @Column({ name: 'draw_rank', type: 'integer', nullable: true })
  drawRank!: number | null;

  @Column({ name: 'dropped_at', type: 'timestamptz', nullable: true })
  droppedAt!: Date | null;
}
