import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type DecisionStatus = 'enrolled' | 'waitlisted' | 'rejected';
/** course_not_found: the course row is gone (courses are never deleted by the API; a safety net). */
export type RejectionReason = 'already_enrolled' | 'already_waitlisted' | 'course_not_found';

/**
 * The one decision an accepted request ends in. The primary key on the idempotency key is what makes a
 * redelivered job decide nothing twice; rows are never updated, so the table is also the audit trail.
 */
@Entity({ name: 'decisions' })
@Index('decisions_course_id_idx', ['courseId'])
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

  @Column({ type: 'varchar', length: 32, nullable: true })
  reason!: RejectionReason | null;

  @Column({ name: 'requested_at', type: 'timestamptz' })
  requestedAt!: Date;

  @Column({ name: 'decided_at', type: 'timestamptz' })
  decidedAt!: Date;
}
