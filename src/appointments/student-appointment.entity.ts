import { Check, Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/**
 * A registration appointment (time ticket, contract v3): when a student may send POST /enroll. A student
 * without one is bound only by course windows.
 */
@Entity({ name: 'student_appointments' })
@Check('student_appointments_window_order', '"closes_at" IS NULL OR "closes_at" > "opens_at"')
export class StudentAppointment {
  @PrimaryColumn({
    name: 'student_id',
    type: 'varchar',
    length: 64,
    primaryKeyConstraintName: 'student_appointments_pkey',
  })
  studentId!: string;

  @Column({ name: 'opens_at', type: 'timestamptz' })
  opensAt!: Date;

  /** Null: open until the course windows close. */
  @Column({ name: 'closes_at', type: 'timestamptz', nullable: true })
  closesAt!: Date | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
