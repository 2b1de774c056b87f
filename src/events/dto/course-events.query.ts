import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';

export class CourseEventsQuery {
  @ApiProperty({
    required: false,
    example: '42',
    pattern: '^(0|[1-9][0-9]{0,9})$',
    description: "A cursor from an event or a page's next; absent: from the course's first event",
  })
  @IsOptional()
  @Matches(/^(0|[1-9][0-9]{0,9})$/, { message: 'after must be a cursor this service returned' })
  after?: string;

  // Absent: 100 (said, not `default`, so a generated client's parameter type stays optional).
  @ApiProperty({
    required: false,
    type: 'integer',
    minimum: 1,
    maximum: 1000,
    example: 100,
    description: 'Events per page; absent: 100',
  })
  @IsOptional()
  // Only the digits of an integer become one: `1e2`, `0x10`, ` 5` and `5.0` stay text, and are refused.
  @Transform(({ value }) =>
    typeof value === 'string' && /^-?(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : value,
  )
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}
