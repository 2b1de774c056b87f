import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IDEMPOTENCY_KEY_PATTERN, STUDENT_ID_PATTERN } from '../../decisions/vocabulary.js';
import { IsInt, IsString, Matches, Max, Min, ValidateIf } from 'class-validator';
import { ClosedSchema } from '../../http/closed-schema.js';

/** The body of POST /enroll. An optional field is absent or valid: null is not a value of any of them. */
@ClosedSchema()
export class EnrollRequestDto {
  @ApiProperty({ example: 's-0042', pattern: STUDENT_ID_PATTERN.source, minLength: 1, maxLength: 64 })
  @IsString()
  @Matches(STUDENT_ID_PATTERN, {
    message: 'student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..',
  })
  student_id!: string;

  @ApiProperty({
    type: 'integer',
    example: 1,
    minimum: 1,
    maximum: 2_147_483_647,
    description: 'A course id exactly as GET /courses returned it',
  })
  @IsInt()
  @Min(1)
  @Max(2_147_483_647)
  course_id!: number;

  // No `default: 0` keyword: openapi-typescript (defaultNonNullable, on by default) would make a field with a
  // default required in the generated request type. The description says it instead.
  @ApiPropertyOptional({
    type: 'integer',
    example: 10,
    minimum: 0,
    maximum: 100,
    description: 'Higher is served first; absent: 0',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(0)
  @Max(100)
  priority?: number;

  @ApiPropertyOptional({
    example: 'portal-7f3a9c1e',
    pattern: IDEMPOTENCY_KEY_PATTERN.source,
    minLength: 1,
    maxLength: 128,
    description: 'Identifies the request; may come instead as the Idempotency-Key header (one is required)',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsString()
  @Matches(IDEMPOTENCY_KEY_PATTERN, {
    message: 'idempotency_key must be 1..128 printable ASCII characters, not . or ..',
  })
  idempotency_key?: string;

  // No example: Swagger UI would prefill it, and "Try it out" would send a swap.
  @ApiPropertyOptional({
    pattern: IDEMPOTENCY_KEY_PATTERN.source,
    minLength: 1,
    maxLength: 128,
    description:
      'A swap: the idempotency key of a request of the same student for another course, enrolled or ' +
      'waiting. "Enroll me in this course; drop that one only if I get this": it is dropped (reason ' +
      'swapped) in the transaction that enrolls this request. Its own key → 400; unknown, another ' +
      "student's or the same course → 422; already named by a pending swap → 409",
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsString()
  @Matches(IDEMPOTENCY_KEY_PATTERN, {
    message: 'swap_for must be 1..128 printable ASCII characters, not . or ..',
  })
  swap_for?: string;
}
