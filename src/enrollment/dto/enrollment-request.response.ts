import { ApiProperty } from '@nestjs/swagger';

type RequestStatus = 'queued' | 'enrolled' | 'waitlisted' | 'rejected';

/** A request as clients see it: queued until a worker decides it, then its one decision. */
export class EnrollmentRequestResponse {
  @ApiProperty({ example: 'portal-7f3a9c1e' })
  idempotency_key!: string;

  @ApiProperty({ example: 's-0042' })
  student_id!: string;

  @ApiProperty({ example: 1 })
  course_id!: number;

  @ApiProperty({ example: 0 })
  priority!: number;

  @ApiProperty({ enum: ['queued', 'enrolled', 'waitlisted', 'rejected'], example: 'queued' })
  status!: RequestStatus;

  @ApiProperty({ type: Number, nullable: true, example: null, description: '1-based place in the waitlist' })
  waitlist_position!: number | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: null,
    enum: ['already_enrolled', 'already_waitlisted', 'course_not_found'],
    description: 'Set only when rejected',
  })
  reason!: string | null;

  @ApiProperty({ example: '2026-11-25T09:00:00.000Z' })
  requested_at!: string;

  @ApiProperty({ type: String, nullable: true, example: null })
  decided_at!: string | null;
}
