import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, Unique } from 'typeorm';

/**
 * A place in a course's waitlist. `position` is the append order and never reused, so the place shown to
 * a student is its rank among the entries still present (stays right when entries leave the list).
 */
@Entity({ name: 'waitlist_entries' })
@Unique('waitlist_entries_course_student_key', ['courseId', 'studentId'])
@Unique('waitlist_entries_course_position_key', ['courseId', 'position'])
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
