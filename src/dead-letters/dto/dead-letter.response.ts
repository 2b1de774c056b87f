import { ApiProperty } from '@nestjs/swagger';
import type { DecidedRequest } from '../../decisions/decisions.service.js';
import {
  decidedView,
  EnrollmentRequestResponse,
  queuedView,
} from '../../decisions/dto/enrollment-request.response.js';
import type { DeadLetter } from '../dead-letter.entity.js';
import { DATE_TIME_SCHEMA } from '../../http/date-time.js';
import { ClosedSchema } from '../../http/closed-schema.js';

/** A request that could not be decided, set aside for an operator. */
@ClosedSchema()
export class DeadLetterResponse {
  @ApiProperty({ example: '17', description: 'Opaque; use it in the retry and reject paths' })
  id!: string;

  @ApiProperty({ example: 'new row for relation "enrollments" violates check constraint "..."' })
  error!: string;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    example: '2026-11-25T09:00:01.250Z',
    description: 'The last failure',
  })
  failed_at!: string;

  @ApiProperty({ type: 'integer', minimum: 1, example: 3, description: 'Tries so far' })
  attempts!: number;

  @ApiProperty({
    type: [EnrollmentRequestResponse],
    description:
      'Its requests as they stand (queued while listed; after reject, rejected with reason dead_letter)',
  })
  requests!: EnrollmentRequestResponse[];

  static from(letter: DeadLetter, decided: DecidedRequest | null = null): DeadLetterResponse {
    return {
      id: letter.id,
      error: letter.error,
      failed_at: letter.failedAt.toISOString(),
      attempts: letter.attempts,
      requests: [
        decided
          ? decidedView(decided)
          : queuedView(letter.idempotencyKey, {
              studentId: letter.studentId,
              courseId: letter.courseId,
              priority: letter.priority,
              requestedAt: letter.requestedAt.toISOString(),
            }),
      ],
    };
  }
}
