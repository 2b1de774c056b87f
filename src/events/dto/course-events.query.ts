import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';

export class CourseEventsQuery {
  @ApiProperty({
    required: false,
    example: '42',
    description: "A cursor from an event or a page's next; absent: from the course's first event",
  })
  @IsOptional()
  @Matches(/^(0|[1-9][0-9]{0,9})$/, { message: 'after must be a cursor this service returned' })
  after?: string;

  @ApiProperty({ required: false, minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}
