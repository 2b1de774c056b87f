import { ApiProperty } from '@nestjs/swagger';
import type { Course } from '../course.entity.js';

export class CourseResponse {
  @ApiProperty({ example: 1, description: 'Server-assigned; send it back as course_id as received' })
  id!: number;

  @ApiProperty({ example: 'CS101' })
  code!: string;

  @ApiProperty({ example: 'Intro to CS' })
  title!: string;

  @ApiProperty({ example: 30 })
  capacity!: number;

  @ApiProperty({ example: 12 })
  seats_taken!: number;

  @ApiProperty({ example: 18 })
  seats_available!: number;

  @ApiProperty({ example: 0 })
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
