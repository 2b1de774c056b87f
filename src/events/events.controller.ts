import { Controller, Get, Inject, Param, Query, UseGuards } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { AdminTokenGuard } from '../courses/admin-token.guard.js';
import { errorResponse } from '../errors/error.response.js';
import { CoursesService } from '../courses/courses.service.js';
import { CourseEventsPage } from './dto/course-event.response.js';
import { CourseEventsQuery } from './dto/course-events.query.js';
import { EventsService } from './events.service.js';
import { CourseIdPipe } from '../courses/course-id.pipe.js';

const DEFAULT_PAGE = 100;

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
  @ApiOkResponse({
    type: CourseEventsPage,
    description: "The course's events after the cursor, in commit order",
  })
  @ApiBadRequestResponse(
    errorResponse(400, 'id, after or limit is invalid', 'after must be a cursor this service returned'),
  )
  @ApiUnauthorizedResponse(
    errorResponse(401, 'Missing or wrong admin token', 'Authorization must be "Bearer <ADMIN_TOKEN>"'),
  )
  @ApiNotFoundResponse(errorResponse(404, 'No such course', 'course_id 7 does not exist'))
  async page(
    @Param('id', CourseIdPipe) id: number,
    @Query() query: CourseEventsQuery,
  ): Promise<CourseEventsPage> {
    await this.courses.get(id);
    const after = Number(query.after ?? 0);
    const events = await this.events.forCourse(id, after, query.limit ?? DEFAULT_PAGE);
    return { events, next: events.at(-1)?.cursor ?? String(after) };
  }
}
