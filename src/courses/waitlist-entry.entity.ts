import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

/**
 * A place in a course's waitlist. Positions are dense: the course's entries hold exactly
 * waitlist_offset + 1 .. waitlist_offset + waitlist_length, so the place shown is `position - waitlist_offset`.
 * Leaving the head moves the offset; leaving the middle shifts the shorter side by one, in one statement,
 * which is why the uniqueness is checked at the statement's end (deferrable).
 */
@Entity({ name: 'waitlist_entries' })
@Index('waitlist_entries_student_id_idx', ['studentId'])
@Unique('waitlist_entries_course_student_key', ['courseId', 'studentId'])
@Unique('waitlist_entries_course_position_key', ['courseId', 'position'], {
  deferrable: 'INITIALLY IMMEDIATE',
})
export class WaitlistEntry {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'course_id', type: 'integer' })
  courseId!: number;

  @Column({ name: 'student_id', type: 'varchar', length: 64 })
  studentId!: string;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 128, unique: true })
  idempotencyKey!: string;

  @Column({ type: 'integer' })
  position!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
