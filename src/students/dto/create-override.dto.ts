import { ApiProperty } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
} from 'class-validator';
import { STUDENT_ID_PATTERN } from '../../decisions/vocabulary.js';
import { OVERRIDE_KINDS, type OverrideKind } from '../../schedules/schedule.rules.js';
import { DATE_TIME_SCHEMA, IsDateTime } from '../../http/date-time.js';
import { ClosedSchema } from '../../http/closed-schema.js';

/** POST /admin/overrides: an exception to one student's schedule rules for one course. */
@ClosedSchema()
export class CreateOverrideDto {
  @ApiProperty({ example: 's-0042', pattern: STUDENT_ID_PATTERN.source, minLength: 1, maxLength: 64 })
  @IsString()
  @Matches(STUDENT_ID_PATTERN, {
    message: 'student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..',
  })
  student_id!: string;

  @ApiProperty({ type: 'integer', minimum: 1, maximum: 2_147_483_647, example: 1 })
  @IsInt()
  @Min(1)
  @Max(2_147_483_647)
  course_id!: number;

  @ApiProperty({
    type: 'array',
    items: { type: 'string', enum: [...OVERRIDE_KINDS] },
    minItems: 1,
    maxItems: 3,
    uniqueItems: true,
    example: ['max_credits'],
    description: 'The rules this course is excused from for this student',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(3)
  @ArrayUnique()
  @IsIn(OVERRIDE_KINDS, { each: true, message: `each of kinds must be one of ${OVERRIDE_KINDS.join(', ')}` })
  kinds!: OverrideKind[];

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    required: false,
    example: '2026-12-20T00:00:00Z',
    description: 'When the override stops applying (in the future); null or absent: never',
  })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsDateTime('expires_at')
  expires_at?: string | null;
}
