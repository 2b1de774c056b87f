import { Check, Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'courses' })
@Check('courses_capacity_range', '"capacity" >= 0 AND "capacity" <= 100000')
@Check('courses_seats_within_capacity', '"seats_taken" >= 0 AND "seats_taken" <= "capacity"')
@Check('courses_waitlist_non_negative', '"waitlist_length" >= 0')
export class Course {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'courses_pkey' })
  id!: number;

  @Column({ type: 'varchar', length: 32, unique: true })
  code!: string;

  @Column({ type: 'varchar', length: 200 })
  title!: string;

  @Column({ type: 'integer' })
  capacity!: number;

  @Column({ name: 'seats_taken', type: 'integer', default: 0 })
  seatsTaken!: number;

  @Column({ name: 'waitlist_length', type: 'integer', default: 0 })
  waitlistLength!: number;

  /** Requests decided for this course so far; queue depth is accepted (Redis) minus this. */
  @Column({ name: 'requests_decided', type: 'integer', default: 0 })
  requestsDecided!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
