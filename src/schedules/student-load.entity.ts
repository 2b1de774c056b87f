import { Check, Column, Entity, PrimaryColumn } from 'typeorm';
import { numericColumn } from './meeting.js';

/**
 * What one student holds across every course, and the limits it was last checked against (guarantee 8).
 * Every transaction that changes a student's holdings locks this row after the course rows, so two
 * requests of one student decided at once by different workers queue here. The CHECKs are the database's
 * own word: enrolled credits and waitlists within the limit, less only what an override excused.
 */
@Entity({ name: 'student_loads' })
@Check(
  'student_loads_non_negative',
  `"enrolled_credits" >= 0 AND "waitlisted_count" >= 0 AND "excused_credits" >= 0 AND "excused_waitlists" >= 0`,
)
@Check(
  'student_loads_credits_within_limit',
  `"credit_limit" IS NULL OR "enrolled_credits" - "excused_credits" <= "credit_limit"`,
)
@Check(
  'student_loads_waitlists_within_limit',
  `"waitlist_limit" IS NULL OR "waitlisted_count" - "excused_waitlists" <= "waitlist_limit"`,
)
export class StudentLoad {
  @PrimaryColumn({
    name: 'student_id',
    type: 'varchar',
    length: 64,
    primaryKeyConstraintName: 'student_loads_pkey',
  })
  studentId!: string;

  /** The operator's limits for this student; null: the configured default. */
  @Column({
    name: 'max_credits',
    type: 'numeric',
    precision: 4,
    scale: 1,
    nullable: true,
    transformer: numericColumn,
  })
  maxCredits!: number | null;

  @Column({ name: 'max_waitlisted', type: 'integer', nullable: true })
  maxWaitlisted!: number | null;

  /** The limits in force at the row's last write (own or default); null: none. The CHECKs read these. */
  @Column({
    name: 'credit_limit',
    type: 'numeric',
    precision: 4,
    scale: 1,
    nullable: true,
    transformer: numericColumn,
  })
  creditLimit!: number | null;

  @Column({ name: 'waitlist_limit', type: 'integer', nullable: true })
  waitlistLimit!: number | null;

  /** The credits of the courses the student is enrolled in (each course's current credits). */
  @Column({
    name: 'enrolled_credits',
    type: 'numeric',
    precision: 7,
    scale: 1,
    default: 0,
    transformer: numericColumn,
  })
  enrolledCredits!: number;

  /** The waitlists the student is on. */
  @Column({ name: 'waitlisted_count', type: 'integer', default: 0 })
  waitlistedCount!: number;

  /**
   * How much of the load lies beyond the limit by an exception: an override, a course's credits raised, or
   * a default lowered (nobody loses a place). Never more than the load above the limit now.
   */
  @Column({
    name: 'excused_credits',
    type: 'numeric',
    precision: 7,
    scale: 1,
    default: 0,
    transformer: numericColumn,
  })
  excusedCredits!: number;

  @Column({ name: 'excused_waitlists', type: 'integer', default: 0 })
  excusedWaitlists!: number;
}
