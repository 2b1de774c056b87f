import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminTokenGuard, ApiAdminTokenInvalid } from '../auth/admin-token.guard.js';
import { ApiBodyRefused, ApiDependencyUnavailable, ApiErrorResponse } from '../http/error.response.js';
import { dateOrNull } from './course-window.js';
import { CoursesService } from './courses.service.js';
import { CourseResponse } from './dto/course.response.js';
import { DrawResponse } from './dto/draw.response.js';
import { CreateCourseDto } from './dto/create-course.dto.js';
import { ChangeCourseDto } from './dto/change-course.dto.js';
import { ForClients } from '../auth/client-token.guard.js';
import { ApiCourseIdInvalid, ApiCourseIdParam, ApiCourseNotFound, CourseIdPipe } from './course-id.pipe.js';
import { ApiCrossFieldRules, CLOSES_AFTER_OPENS } from '../http/cross-field-rules.js';
import { DRAW_NEEDS_OPENS_AT, PREQUEUE_NEEDS_DRAW } from './opening-draw.rules.js';
import { MEETING_ENDS_AFTER_START } from './dto/meeting.dto.js';

/** What a course's fields must satisfy together (with its stored fields, on PATCH). */
const COURSE_RULES = [CLOSES_AFTER_OPENS, DRAW_NEEDS_OPENS_AT, PREQUEUE_NEEDS_DRAW, MEETING_ENDS_AFTER_START];

/** From a created course to what reads or changes it (OpenAPI links, for stateful clients and SDKs). */
const courseLink = (operationId: string, description: string) => ({
  operationId,
  parameters: { id: '$response.body#/id' },
  description,
});
const COURSE_LINKS = {
  GetCourse: courseLink('getCourse', 'The course as it stands'),
  UpdateCourse: courseLink('updateCourse', 'Change its title, capacity, window, schedule or draw'),
  GetCourseDraw: courseLink('getCourseDraw', 'Its opening draw'),
  ListCourseEvents: courseLink('listCourseEvents', 'The record of what happened to it'),
};

@ApiTags('courses')
@ApiDependencyUnavailable()
@Controller('courses')
export class CoursesController {
  constructor(@Inject(CoursesService) private readonly coursesService: CoursesService) {}

  @Get()
  @ForClients()
  @ApiOperation({
    operationId: 'listCourses',
    summary: 'List every course',
    description: 'Every course with its seats, waitlist length and registration window, ordered by code.',
  })
  @ApiOkResponse({ type: [CourseResponse], description: 'Every course, ordered by code' })
  async list(): Promise<CourseResponse[]> {
    return (await this.coursesService.list()).map((course) => CourseResponse.from(course));
  }

  @Get(':id')
  @ForClients()
  @ApiOperation({
    operationId: 'getCourse',
    summary: 'Get one course',
    description: 'The course with its seats taken and available, its waitlist length and its window.',
  })
  @ApiCourseIdParam()
  @ApiOkResponse({ type: CourseResponse, description: 'The course' })
  @ApiCourseIdInvalid()
  @ApiCourseNotFound()
  async get(@Param('id', CourseIdPipe) id: number): Promise<CourseResponse> {
    return CourseResponse.from(await this.coursesService.get(id));
  }

  @Get(':id/draw')
  @ForClients()
  @ApiOperation({
    operationId: 'getCourseDraw',
    summary: "A course's opening draw",
    description:
      'Contract v3, Fair opening. seed_sha256 is published when the draw is configured; once drawn, the ' +
      'seed, the entry count and the order (idempotency keys) are shown, so anyone can recompute the order ' +
      '(npm run verify-draw -- <base-url> <course-id>). state is none for a course without a draw.',
  })
  @ApiCourseIdParam()
  @ApiOkResponse({ type: DrawResponse, description: 'The draw as it stands' })
  @ApiCourseIdInvalid()
  @ApiCourseNotFound()
  async draw(@Param('id', CourseIdPipe) id: number): Promise<DrawResponse> {
    return this.coursesService.draw(id);
  }

  @Post()
  @HttpCode(201)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth('admin')
  @ApiOperation({
    operationId: 'createCourse',
    summary: 'Create a course (operators)',
    description:
      'Codes are unique whatever their case; a code or a title does not begin or end with white space ' +
      '(refused, not trimmed). opens_at and closes_at bound the registration window; absent or null, that ' +
      'side has no limit.',
  })
  @ApiCreatedResponse({
    type: CourseResponse,
    description: 'Created; Location names the course',
    headers: {
      Location: {
        description: 'The new course: /courses/<id>',
        required: true,
        schema: { type: 'string', example: '/courses/1' },
      },
    },
    links: COURSE_LINKS,
  })
  @ApiCrossFieldRules(...COURSE_RULES)
  @ApiErrorResponse(
    400,
    'A field is invalid or unknown (details names each), or a rule of x-cross-field-rules is broken',
    'capacity must not be less than 0',
    ['capacity must not be less than 0'],
  )
  @ApiAdminTokenInvalid()
  @ApiErrorResponse(409, 'A course with this code exists', 'code CS101 already exists')
  @ApiBodyRefused()
  async create(
    @Body() dto: CreateCourseDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<CourseResponse> {
    const course = CourseResponse.from(await this.coursesService.create(dto));
    response.location(`/courses/${course.id}`);
    return course;
  }

  @Patch(':id')
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth('admin')
  @ApiOperation({
    operationId: 'updateCourse',
    summary: 'Change a course (operators)',
    description:
      'Any of title, capacity, opens_at, closes_at, credits, meetings; an absent field stays as it is, a ' +
      'null window side removes that limit. Raising capacity promotes the first waiting requests that may ' +
      'take the seats (skip-and-keep), in the same transaction; lowering it below seats_taken is a 409 and ' +
      'changes nothing. New credits or meetings apply to later decisions: nobody loses a place, and a block ' +
      'they lift promotes in the same transaction.',
  })
  @ApiCourseIdParam()
  @ApiOkResponse({
    type: CourseResponse,
    description: 'Changed. A capacity raise promoted waitlist heads, in order, in the same transaction',
  })
  @ApiCrossFieldRules(...COURSE_RULES)
  @ApiErrorResponse(
    400,
    'A field is invalid or unknown, id is not a course id, or a rule of x-cross-field-rules is broken by ' +
      'the body with what the course already has',
    CLOSES_AFTER_OPENS.rule,
  )
  @ApiAdminTokenInvalid()
  @ApiCourseNotFound()
  @ApiErrorResponse(
    409,
    'capacity is below seats_taken; nothing changed',
    'capacity 20 is below the 25 seats taken; nobody loses a seat',
  )
  @ApiBodyRefused()
  async change(@Param('id', CourseIdPipe) id: number, @Body() dto: ChangeCourseDto): Promise<CourseResponse> {
    const course = await this.coursesService.change(id, {
      title: dto.title ?? undefined,
      capacity: dto.capacity ?? undefined,
      opensAt: dto.opens_at === undefined ? undefined : dateOrNull(dto.opens_at),
      closesAt: dto.closes_at === undefined ? undefined : dateOrNull(dto.closes_at),
      credits: dto.credits,
      meetings: dto.meetings,
      waitlistMode: dto.waitlist_mode,
      offerTtlS: dto.offer_ttl_s,
      drawWindowS: dto.draw_window_s,
      prequeueS: dto.prequeue_s,
    });
    return CourseResponse.from(course);
  }
}
