import { ApiProperty } from '@nestjs/swagger';
import type { Course } from '../course.entity.js';

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
    description: 'capacity minus seats_taken',
  })
  seats_available!: number;

  @ApiProperty({ type: 'integer', minimum: 0, example: 0 })
  waitlist_length!: number;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2026-12-01T09:00:00.000Z',
    description: 'Registration opens; null: no limit',
  })
  opens_at!: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    example: null,
    description: 'Registration closes; null: no limit',
  })
  closes_at!: string | null;

  static from(course: Course): CourseResponse {
    return {
      id: course.id,
      code: course.code,
      title: course.title,
      capacity: course.capacity,
      seats_taken: course.seatsTaken,
      seats_available: course.capacity - course.seatsTaken,
      waitlist_length: course.waitlistLength,
      opens_at: course.opensAt?.toISOString() ?? null,
      closes_at: course.closesAt?.toISOString() ?? null,
    };
  }
}
