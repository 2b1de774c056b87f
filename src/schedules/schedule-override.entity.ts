import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { Course } from '../courses/course.entity.js';

/** An operator's exception to a student's schedule rules for one course, until it expires (null: never). */
@Entity({ name: 'schedule_overrides' })
@Index('schedule_overrides_student_course_idx', ['studentId', 'courseId'])
@Check(
  'schedule_overrides_kinds_known',
  `cardinality("kinds") > 0 AND "kinds" <@ ARRAY['time_conflict', 'max_credits', 'max_waitlisted']::varchar[]`,
)
export class ScheduleOverride {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'schedule_overrides_pkey' })
  id!: string;

  @Column({ name: 'student_id', type: 'varchar', length: 64 })
  studentId!: string;

  @Column({ name: 'course_id', type: 'integer' })
  courseId!: number;

  @ManyToOne(() => Course, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'course_id', foreignKeyConstraintName: 'schedule_overrides_course_fkey' })
  course?: Course;

  @Column({ type: 'varchar', length: 16, array: true })
  kinds!: string[];

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
