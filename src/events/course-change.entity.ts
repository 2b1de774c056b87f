import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { CourseChangeType } from '../decisions/vocabulary.js';

/**
 * A change after a decision (a promotion, a drop) or to a course (a capacity change), appended in the
 * transaction that made it (a transactional outbox). A request's decision is its own event: its row in
 * `decisions` carries its sequence number (decision_seq), so the workers' hot path writes no second row.
 * The view `course_events` (see the migration) reads both as one record, ordered by `seq`: the course's
 * own sequence, handed out under the course row lock, so within a course it is also commit order — seq
 * n + 1 cannot exist before seq n has committed, and a reader resuming after n misses nothing.
 */
@Entity({ name: 'course_changes' })
@Index('course_changes_idempotency_key_idx', ['idempotencyKey'])
@Index('course_changes_student_id_idx', ['studentId'])
export class CourseChange {
  @PrimaryColumn({ name: 'course_id', type: 'integer', primaryKeyConstraintName: 'course_changes_pkey' })
  courseId!: number;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'course_changes_pkey' })
  seq!: number;

  @Column({ type: 'varchar', length: 24 })
  type!: CourseChangeType;

  /** Null for a capacity change. */
  @Column({ name: 'idempotency_key', type: 'varchar', length: 128, nullable: true })
  idempotencyKey!: string | null;

  @Column({ name: 'student_id', type: 'varchar', length: 64, nullable: true })
  studentId!: string | null;

  /** The request's status right after the change. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  status!: string | null;

  /** A drop's cause, where it has one (v3: swapped). */
  @Column({ type: 'varchar', length: 32, nullable: true })
  reason!: string | null;

  /** The new capacity, for capacity_changed. */
  @Column({ type: 'integer', nullable: true })
  capacity!: number | null;

  /** For drawn: how many entries the draw had. */
  @Column({ type: 'integer', nullable: true })
  entries!: number | null;

  /** For drawn: the seed, revealed. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  seed!: string | null;

  /** The transaction that wrote it: shared by the events of one commit; null before v3. */
  @Column({ type: 'bigint', nullable: true, default: () => 'txid_current()' })
  txid!: string | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  at!: Date;
}
