import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
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
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}
