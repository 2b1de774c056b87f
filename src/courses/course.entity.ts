import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { type Meeting, numericColumn } from '../schedules/meeting.js';

export type WaitlistMode = 'auto' | 'offer';
export const WAITLIST_MODES: readonly WaitlistMode[] = ['auto', 'offer'];

@Entity({ name: 'courses' })
@Check('courses_capacity_range', '"capacity" >= 0 AND "capacity" <= 100000')
@Check(
  'courses_seats_within_capacity',
  '"seats_taken" >= 0 AND "seats_held" >= 0 AND "seats_taken" + "seats_held" <= "capacity"',
)
@Check('courses_waitlist_mode_known', `"waitlist_mode" IN ('auto', 'offer')`)
@Check('courses_offer_ttl_range', '"offer_ttl_s" >= 60 AND "offer_ttl_s" <= 604800')
@Check('courses_waitlist_non_negative', '"waitlist_length" >= 0')
@Check('courses_credits_grid', '"credits" >= 0 AND "credits" <= 40 AND "credits" * 2 = trunc("credits" * 2)')
@Check(
  'courses_draw_settings',
  '"draw_window_s" >= 0 AND "draw_window_s" <= 3600 AND "prequeue_s" >= 0 AND "prequeue_s" <= 86400 AND ("draw_window_s" = 0 OR "opens_at" IS NOT NULL) AND ("prequeue_s" = 0 OR "draw_window_s" > 0)',
)
@Index('courses_draw_pending_idx', ['id'], { where: '"draw_pending"' })
@Check('courses_window_order', '"opens_at" IS NULL OR "closes_at" IS NULL OR "opens_at" < "closes_at"')
// Codes are unique whatever their case: a unique index on lower("code"), made by the migration
// CaseInsensitiveCourseCodes. TypeORM cannot describe an expression index; synchronize: false keeps schema
// sync and migration:generate from ever dropping it.
@Index('courses_code_lower_key', { synchronize: false })
export class Course {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'courses_pkey' })
  id!: number;

  /** Unique whatever its case (the index above): a second `cs101` beside `CS101` is a 409. */
  @Column({ type: 'varchar', length: 32 })
  code!: string;

  @Column({ type: 'varchar', length: 200 })
  title!: string;

  @Column({ type: 'integer' })
  capacity!: number;

  @Column({ name: 'seats_taken', type: 'integer', default: 0 })
  seatsTaken!: number;

  /** Seats held for offered requests (offer mode): neither free nor taken until accepted or let go. */
  @Column({ name: 'seats_held', type: 'integer', default: 0 })
  seatsHeld!: number;

  @Column({ name: 'waitlist_length', type: 'integer', default: 0 })
  waitlistLength!: number;

  /** auto: a freed seat enrolls the first waiting request that may take it; offer: it is offered to it. */
  @Column({ name: 'waitlist_mode', type: 'varchar', length: 8, default: 'auto' })
  waitlistMode!: WaitlistMode;

  /** How long an offer stands, in seconds. */
  @Column({ name: 'offer_ttl_s', type: 'integer', default: 86400 })
  offerTtlS!: number;

  /** Requests decided for this course so far; queue depth is accepted (Redis) minus this. */
  @Column({ name: 'requests_decided', type: 'integer', default: 0 })
  requestsDecided!: number;

  /**
   * How many requests have left the head of the waitlist (promoted or dropped there). Waitlist positions
   * stay dense, so a request's current place is its entry's position minus this: one row read, no count.
   */
  @Column({ name: 'waitlist_offset', type: 'integer', default: 0 })
  waitlistOffset!: number;

  /**
   * The course's event sequence: the last `seq` written to its events. Every change to the course happens
   * under its row lock, so sequence numbers are handed out, and committed, in order (the events' cursor).
   */
  @Column({ name: 'events_written', type: 'integer', default: 0 })
  eventsWritten!: number;

  /** The registration window; null for no limit on that side. Checked when a request is accepted. */
  @Column({ name: 'opens_at', type: 'timestamptz', nullable: true })
  opensAt!: Date | null;

  @Column({ name: 'closes_at', type: 'timestamptz', nullable: true })
  closesAt!: Date | null;

  /** What enrolling costs a student against their max_credits: 0..40 in steps of 0.5. */
  @Column({ type: 'numeric', precision: 3, scale: 1, default: 0, transformer: numericColumn })
  credits!: number;

  /** Weekly meetings; two courses a student is enrolled in may not overlap (guarantee 8). */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  meetings!: Meeting[];

  /**
   * The opening draw (contract v3, Fair opening): requests accepted from opens_at - prequeue_s until
   * opens_at + draw_window_s are draw entries; 0 means no draw.
   */
  @Column({ name: 'draw_window_s', type: 'integer', default: 0 })
  drawWindowS!: number;

  @Column({ name: 'prequeue_s', type: 'integer', default: 0 })
  prequeueS!: number;

  /**
   * True from the moment a draw is configured until its last entry is decided: a worker deciding a later
   * request of the course past the draw period carries the draw out first (see OpeningDraw).
   */
  @Column({ name: 'draw_pending', type: 'boolean', default: false })
  drawPending!: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
