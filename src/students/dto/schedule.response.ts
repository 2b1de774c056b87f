import { DATE_TIME_SCHEMA } from '../../http/date-time.js';
import { ApiProperty } from '@nestjs/swagger';
import { EnrollmentRequestResponse } from '../../decisions/dto/enrollment-request.response.js';
import { STUDENT_ID_PATTERN } from '../../decisions/vocabulary.js';
import { OVERRIDE_KINDS, type OverrideKind, type OverrideRecord } from '../../schedules/schedule.rules.js';
import { ClosedSchema } from '../../http/closed-schema.js';

@ClosedSchema()
export class OverrideResponse {
  @ApiProperty({ example: '12', description: 'Send it back to DELETE /admin/overrides/{id}' })
  id!: string;

  @ApiProperty({ example: 's-0042', pattern: STUDENT_ID_PATTERN.source, minLength: 1, maxLength: 64 })
  student_id!: string;

  @ApiProperty({ type: 'integer', minimum: 1, maximum: 2_147_483_647, example: 1 })
  course_id!: number;

  @ApiProperty({
    type: 'array',
    items: { type: 'string', enum: [...OVERRIDE_KINDS] },
    minItems: 1,
    maxItems: 3,
    example: ['max_credits'],
  })
  kinds!: OverrideKind[];

  @ApiProperty({ ...DATE_TIME_SCHEMA, nullable: true, example: null })
  expires_at!: string | null;

  @ApiProperty({ ...DATE_TIME_SCHEMA, example: '2026-12-05T09:00:00.000Z' })
  created_at!: string;

  static from(row: OverrideRecord): OverrideResponse {
    return {
      id: row.id,
      student_id: row.studentId,
      course_id: row.courseId,
      kinds: row.kinds,
      expires_at: row.expiresAt?.toISOString() ?? null,
      created_at: row.createdAt.toISOString(),
    };
  }
}

/** A student's schedule: limits in force, load, what they hold and wait on, and their overrides. */
@ClosedSchema()
export class ScheduleResponse {
  @ApiProperty({ example: 's-0042', pattern: STUDENT_ID_PATTERN.source, minLength: 1, maxLength: 64 })
  student_id!: string;

  @ApiProperty({
    type: 'number',
    nullable: true,
    minimum: 0,
    maximum: 200,
    example: 18,
    description: "The credit limit in force: the student's own, or DEFAULT_MAX_CREDITS; null: none",
  })
  max_credits!: number | null;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    minimum: 0,
    maximum: 100,
    example: 3,
    description: "The waitlist limit in force: the student's own, or DEFAULT_MAX_WAITLISTED; null: none",
  })
  max_waitlisted!: number | null;

  @ApiProperty({ type: 'number', minimum: 0, example: 12, description: 'Credits of the courses enrolled in' })
  enrolled_credits!: number;

  @ApiProperty({ type: 'integer', minimum: 0, example: 1, description: 'Waitlists the student is on' })
  waitlisted_count!: number;

  @ApiProperty({ type: [EnrollmentRequestResponse], description: 'The enrolled requests' })
  enrolled!: EnrollmentRequestResponse[];

  @ApiProperty({
    type: [EnrollmentRequestResponse],
    description: 'The waitlisted requests, each with its place and blocked_reason',
  })
  waiting!: EnrollmentRequestResponse[];

  @ApiProperty({ type: [OverrideResponse], description: 'Unexpired overrides' })
  overrides!: OverrideResponse[];
}
