import { ApiProperty } from '@nestjs/swagger';
import { IsInt, IsNumber, Max, Min, ValidateIf } from 'class-validator';
import { IsOnHalfGrid } from '../../courses/dto/meeting.dto.js';
import { ClosedSchema } from '../../http/closed-schema.js';

/**
 * PUT /admin/students/:student_id/limits: the student's own limits, replacing what was there. null (or
 * absent) means the configured default (DEFAULT_MAX_CREDITS, DEFAULT_MAX_WAITLISTED; unset: no limit).
 */
@ClosedSchema()
export class SetLimitsDto {
  @ApiProperty({
    type: 'number',
    nullable: true,
    required: false,
    minimum: 0,
    maximum: 200,
    multipleOf: 0.5,
    example: 18,
    description: 'Most credits the student may be enrolled in; null or absent: DEFAULT_MAX_CREDITS',
  })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(200)
  @IsOnHalfGrid('max_credits')
  max_credits?: number | null;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    required: false,
    minimum: 0,
    maximum: 100,
    example: 3,
    description: 'Most waitlists the student may wait on; null or absent: DEFAULT_MAX_WAITLISTED',
  })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsInt()
  @Min(0)
  @Max(100)
  max_waitlisted?: number | null;
}
