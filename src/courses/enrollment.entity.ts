import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

/** A seat held by a student. seats_taken of the course always equals the number of these rows. */
@Entity({ name: 'enrollments' })
@Index('enrollments_student_id_idx', ['studentId'])
@Unique('enrollments_course_student_key', ['courseId', 'studentId'])
export class Enrollment {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'course_id', type: 'integer' })
  courseId!: number;

  @Column({ name: 'student_id', type: 'varchar', length: 64 })
  studentId!: string;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 128, unique: true })
  idempotencyKey!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
