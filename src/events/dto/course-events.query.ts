import { ApiProperty } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { PageLimit } from '../../http/page-limit.js';

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

  @PageLimit('Events per page')
  limit?: number;
}
