import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A request that could not be decided for a reason other than an outage, set aside after
 * DEAD_LETTER_ATTEMPTS tries. It stays `queued` (no decision) until an operator retries or rejects it; the
 * row is deleted then, and the course's record keeps what happened.
 */
@Entity({ name: 'dead_letters' })
@Index('dead_letters_idempotency_key_key', ['idempotencyKey'], { unique: true })
export class DeadLetter {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'dead_letters_pkey' })
  id!: string;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 128 })
  idempotencyKey!: string;

  @Column({ name: 'student_id', type: 'varchar', length: 64 })
  studentId!: string;

  @Column({ name: 'course_id', type: 'integer' })
  courseId!: number;

  @Column({ type: 'smallint' })
  priority!: number;

  @Column({ name: 'requested_at', type: 'timestamptz' })
  requestedAt!: Date;

  /** The request's swap (contract v3), kept so a retried dead letter is still decided as a swap. */
  @Column({ name: 'swap_for', type: 'varchar', length: 128, nullable: true })
  swapFor!: string | null;

  /** The last error, as the database or the code reported it. */
  @Column({ type: 'text' })
  error!: string;

  @Column({ type: 'integer' })
  attempts!: number;

  @Column({ name: 'failed_at', type: 'timestamptz', default: () => 'now()' })
  failedAt!: Date;
}
