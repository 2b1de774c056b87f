import { ApiProperty } from '@nestjs/swagger';
import type { Course } from '../course.entity.js';
import { MeetingDto } from './meeting.dto.js';
import { DATE_TIME_SCHEMA } from '../../http/date-time.js';
import { ClosedSchema } from '../../http/closed-schema.js';

@ClosedSchema()
export class CourseResponse {
  @ApiProperty({
    type: 'integer',
    minimum: 1,
    maximum: 2_147_483_647,
    example: 1,
    description: 'Server-assigned; send it back as course_id as received',
  })
  id!: number;

  @ApiProperty({ example: 'CS101', minLength: 1, maxLength: 32 })
  code!: string;

  @ApiProperty({ example: 'Intro to CS', minLength: 1, maxLength: 200 })
  title!: string;

  @ApiProperty({ type: 'integer', minimum: 0, maximum: 100_000, example: 30 })
  capacity!: number;

  @ApiProperty({ type: 'integer', minimum: 0, maximum: 100_000, example: 12 })
  seats_taken!: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    maximum: 100_000,
    example: 18,
    description: 'capacity minus seats_taken minus seats_held',
  })
  seats_available!: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    maximum: 100000,
    example: 0,
    description:
      'Seats held for offered requests (offer mode): neither free nor taken until accepted, declined or expired',
  })
  seats_held!: number;

  @ApiProperty({ type: 'integer', minimum: 0, example: 0 })
  waitlist_length!: number;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    example: '2026-12-01T09:00:00.000Z',
    description: 'Registration opens; null: no limit',
  })
  opens_at!: string | null;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    example: null,
    description: 'Registration closes; null: no limit',
  })
  closes_at!: string | null;

  @ApiProperty({ type: 'number', minimum: 0, maximum: 40, multipleOf: 0.5, example: 4 })
  credits!: number;

  @ApiProperty({ type: [MeetingDto], maxItems: 10 })
  meetings!: MeetingDto[];

  @ApiProperty({
    enum: ['auto', 'offer'],
    example: 'auto',
    description:
      'How a freed seat reaches the waitlist: auto enrolls the first waiting request that may take it; ' +
      'offer holds it for that request until it accepts, declines or its offer expires',
  })
  waitlist_mode!: 'auto' | 'offer';

  @ApiProperty({
    type: 'integer',
    minimum: 60,
    maximum: 604800,
    example: 86400,
    description: 'How long an offer stands, in seconds',
  })
  offer_ttl_s!: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    maximum: 3600,
    example: 0,
    description: 'The opening draw period after opens_at, in seconds; 0: no draw (GET /courses/:id/draw)',
  })
  draw_window_s!: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    maximum: 86400,
    example: 0,
    description: 'How long before opens_at the draw takes entries, in seconds',
  })
  prequeue_s!: number;

  static from(course: Course): CourseResponse {
    return {
      id: course.id,
      code: course.code,
      title: course.title,
      capacity: course.capacity,
      seats_taken: course.seatsTaken,
      seats_available: course.capacity - course.seatsTaken - course.seatsHeld,
      waitlist_length: course.waitlistLength,
      opens_at: course.opensAt?.toISOString() ?? null,
      closes_at: course.closesAt?.toISOString() ?? null,
      seats_held: course.seatsHeld,
      credits: course.credits,
      meetings: course.meetings,
      waitlist_mode: course.waitlistMode,
      offer_ttl_s: course.offerTtlS,
      draw_window_s: course.drawWindowS,
      prequeue_s: course.prequeueS,
    };
  }
}
