import { Controller, Get, Inject, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminTokenGuard, ApiAdminTokenInvalid } from '../auth/admin-token.guard.js';
import { ApiDependencyUnavailable, ApiErrorResponse } from '../http/error.response.js';
import { CoursesService } from '../courses/courses.service.js';
import { CourseEventsPage } from './dto/course-event.response.js';
import { CourseEventsQuery } from './dto/course-events.query.js';
import { EventsService } from './events.service.js';
import { ApiCourseIdParam, ApiCourseNotFound, CourseIdPipe } from '../courses/course-id.pipe.js';

const DEFAULT_PAGE = 100;

/** The largest event number a course's record can hold (an integer column). */
const LAST_SEQ = 2_147_483_647;

@ApiTags('events')
@Controller('courses')
export class EventsController {
  constructor(
    @Inject(EventsService) private readonly events: EventsService,
    @Inject(CoursesService) private readonly courses: CoursesService,
  ) {}

  @Get(':id/events')
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth('admin')
  @ApiOperation({
    operationId: 'listCourseEvents',
    summary: "A page of a course's events (operators)",
    description:
      "The course's events after the cursor, in commit order: decisions, promotions, drops, cancellations, " +
      'capacity changes. Resume with ?after=<next>; an empty page means the reader is up to date.',
  })
  @ApiCourseIdParam()
  @ApiOkResponse({
    type: CourseEventsPage,
    description: "The course's events after the cursor, in commit order",
  })
  @ApiErrorResponse(400, 'id, after or limit is invalid', 'after must be a cursor this service returned', [
    'after must be a cursor this service returned',
  ])
  @ApiAdminTokenInvalid()
  @ApiCourseNotFound()
  @ApiDependencyUnavailable()
  async page(
    @Param('id', CourseIdPipe) id: number,
    @Query() query: CourseEventsQuery,
  ): Promise<CourseEventsPage> {
    await this.courses.get(id);
    const after = Number(query.after ?? 0);
    // A cursor past PostgreSQL's integer (the document allows ten digits) is past every event there is.
    const events = await this.events.forCourse(id, Math.min(after, LAST_SEQ), query.limit ?? DEFAULT_PAGE);
    return { events, next: events.at(-1)?.cursor ?? String(after) };
  }
}
