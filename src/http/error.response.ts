import { applyDecorators } from '@nestjs/common';
import {
  ApiProperty,
  ApiPropertyOptional,
  ApiResponse,
  type ApiResponseNoStatusOptions,
} from '@nestjs/swagger';
import { reasonPhrase } from './domain-exception.filter.js';
import { ClosedSchema } from './closed-schema.js';

/** Every error's shape, whatever its status (see DomainExceptionFilter). */
@ClosedSchema()
export class ErrorResponse {
  @ApiProperty({ type: 'integer', minimum: 400, maximum: 599, example: 409 })
  statusCode!: number;

  @ApiProperty({ example: 'Conflict', description: "The status's reason phrase" })
  error!: string;

  @ApiProperty({ example: 'capacity 20 is below the 25 seats taken; nobody loses a seat' })
  message!: string;

  @ApiPropertyOptional({
    type: [String],
    description: 'One string per offending field (body field or header), naming it and saying why',
    example: ['priority must not be greater than 100'],
  })
  details?: string[];
}

/** The header of every 429 and 503: when to try again. */
const RETRY_AFTER = {
  'Retry-After': {
    description: 'Seconds to wait before trying again',
    required: true,
    schema: { type: 'integer', minimum: 0, example: 2 },
  },
};

/** An error response for the OpenAPI document: its meaning and an example of the body. */
export function errorResponse(
  status: number,
  description: string,
  message: string,
  details?: string[],
): ApiResponseNoStatusOptions {
  return {
    type: ErrorResponse,
    description,
    ...(status === 429 || status === 503 ? { headers: RETRY_AFTER } : {}),
    example: { statusCode: status, error: reasonPhrase(status), message, ...(details ? { details } : {}) },
  };
}

/** Documents one error status of an operation (or of every operation of a controller). */
export const ApiErrorResponse = (status: number, description: string, message: string, details?: string[]) =>
  ApiResponse({ status, ...errorResponse(status, description, message, details) });

/** A body past 16 KiB (413) or not JSON (415) is refused before it is read (docs/guarantees.md §19). */
export const ApiBodyRefused = () =>
  applyDecorators(
    ApiErrorResponse(413, 'The body is larger than 16 KiB', 'the body is larger than 16 KiB'),
    ApiErrorResponse(
      415,
      'The body is not JSON (Content-Type), or its charset or Content-Encoding is not one the API reads',
      'Content-Type must be application/json (got text/plain)',
    ),
  );

/** PostgreSQL (or Redis) is away: every route that needs one answers this way, never with a 500. */
export const ApiDependencyUnavailable = (
  message = 'the database (PostgreSQL) is unavailable; retry later',
  description = 'A dependency is unavailable; retry after Retry-After seconds',
) => ApiErrorResponse(503, description, message);

/** The student limit on POST /enroll and DELETE /enrollments/{idempotency_key} (docs/guarantees.md §19). */
export const ApiRateLimited = () =>
  ApiErrorResponse(
    429,
    'The student made more calls of POST /enroll and DELETE /enrollments/{idempotency_key} in the window ' +
      'than RATE_LIMIT_PER_STUDENT; nothing was done; retry after Retry-After seconds',
    'student s-0042 sent more than 120 enrollment calls in 60 s; retry after 37 s',
  );
