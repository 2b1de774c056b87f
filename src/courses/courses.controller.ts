import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import {
  ApiBearerAuth,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { AdminTokenGuard } from './admin-token.guard.js';
import { errorResponse } from '../errors/error.response.js';
import { CoursesService, dateOrNull } from './courses.service.js';
import { CourseResponse } from './dto/course.response.js';
import { CreateCourseDto } from './dto/create-course.dto.js';
import { ChangeCourseDto } from './dto/change-course.dto.js';
import { ForClients } from '../auth/client-token.guard.js';
import { LifecycleService } from '../allocation/lifecycle.service.js';
import { CourseIdPipe } from './course-id.pipe.js';

@ApiTags('courses')
@Controller('courses')
export class CoursesController {
  constructor(
    @Inject(CoursesService) private readonly coursesService: CoursesService,
    @Inject(LifecycleService) private readonly lifecycle: LifecycleService,
  ) {}

  @Get()
  @ForClients()
  @ApiOkResponse({ type: [CourseResponse], description: 'Every course, ordered by code' })
  async list(): Promise<CourseResponse[]> {
    return (await this.coursesService.list()).map((course) => CourseResponse.from(course));
  }

  @Get(':id')
  @ForClients()
  @ApiOkResponse({ type: CourseResponse })
  @ApiBadRequestResponse(
    errorResponse(400, 'id is not decimal digits', 'id must be a course id: decimal digits'),
  )
  @ApiNotFoundResponse(errorResponse(404, 'No such course', 'course_id 7 does not exist'))
  async get(@Param('id', CourseIdPipe) id: number): Promise<CourseResponse> {
    return CourseResponse.from(await this.coursesService.get(id));
  }

  @Post()
  @HttpCode(201)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth('admin')
  @ApiCreatedResponse({
    type: CourseResponse,
    headers: { Location: { description: '/courses/<id>', schema: { type: 'string' } } },
  })
  @ApiBadRequestResponse({ description: 'A field is invalid; the message names it' })
  @ApiUnauthorizedResponse({ description: 'Missing or wrong admin token' })
  @ApiConflictResponse({ description: 'A course with this code exists' })
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
  @ApiOkResponse({
    type: CourseResponse,
    description: 'Changed. A capacity raise promoted waitlist heads, in order, in the same transaction',
  })
  @ApiBadRequestResponse(
    errorResponse(
      400,
      'A field is invalid, id is not decimal digits, or opens_at is not before closes_at',
      'opens_at (2026-12-08T00:00:00.000Z) must be before closes_at (2026-12-01T00:00:00.000Z)',
    ),
  )
  @ApiUnauthorizedResponse(
    errorResponse(401, 'Missing or wrong admin token', 'Authorization must be "Bearer <ADMIN_TOKEN>"'),
  )
  @ApiNotFoundResponse(errorResponse(404, 'No such course', 'course_id 7 does not exist'))
  @ApiConflictResponse(
    errorResponse(
      409,
      'capacity is below seats_taken; nothing changed',
      'capacity 20 is below the 25 seats taken; nobody loses a seat',
    ),
  )
  async change(@Param('id', CourseIdPipe) id: number, @Body() dto: ChangeCourseDto): Promise<CourseResponse> {
    const course = await this.lifecycle.changeCourse(id, {
      title: dto.title ?? undefined,
      capacity: dto.capacity ?? undefined,
      opensAt: dto.opens_at === undefined ? undefined : dateOrNull(dto.opens_at),
      closesAt: dto.closes_at === undefined ? undefined : dateOrNull(dto.closes_at),
    });
    return CourseResponse.from(course);
  }
}
