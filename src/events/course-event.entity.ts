import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type CourseEventType =
  'enrolled' | 'waitlisted' | 'rejected' | 'promoted' | 'dropped' | 'cancelled' | 'capacity_changed';

/**
 * One change to a course, appended in the transaction that made it (a transactional outbox). `seq` is the
 * course's own sequence, handed out under the course row lock, so within a course it is also commit order:
 * seq n + 1 cannot exist before seq n has committed, and a reader resuming after n misses nothing.
 */
@Entity({ name: 'events' })
@Index('events_idempotency_key_idx', ['idempotencyKey'])
export class CourseEvent {
  @PrimaryColumn({ name: 'course_id', type: 'integer', primaryKeyConstraintName: 'events_pkey' })
  courseId!: number;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'events_pkey' })
  seq!: number;

  @Column({ type: 'varchar', length: 16 })
  type!: CourseEventType;

  /** Null for a capacity change. */
  @Column({ name: 'idempotency_key', type: 'varchar', length: 128, nullable: true })
  idempotencyKey!: string | null;

  @Column({ name: 'student_id', type: 'varchar', length: 64, nullable: true })
  studentId!: string | null;

  /** The request's status right after the event. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  status!: string | null;

  /** The request's place in the waitlist right after the event. */
  @Column({ name: 'waitlist_position', type: 'integer', nullable: true })
  waitlistPosition!: number | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  reason!: string | null;

  /** The new capacity, for capacity_changed. */
  @Column({ type: 'integer', nullable: true })
  capacity!: number | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  at!: Date;
}
