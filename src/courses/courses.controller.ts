import {
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Param,
  ParseIntPipe,
  Post,
  UseGuards,
} from '@nestjs/common';
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
import { CoursesService } from './courses.service.js';
import { CourseResponse } from './dto/course.response.js';
import { CreateCourseDto } from './dto/create-course.dto.js';

@ApiTags('courses')
@Controller('courses')
export class CoursesController {
  constructor(@Inject(CoursesService) private readonly coursesService: CoursesService) {}

  @Get()
  @ApiOkResponse({ type: [CourseResponse], description: 'Every course, ordered by code' })
  async list(): Promise<CourseResponse[]> {
    return (await this.coursesService.list()).map((course) => CourseResponse.from(course));
  }

  @Get(':id')
  @ApiOkResponse({ type: CourseResponse })
  @ApiBadRequestResponse({ description: 'id is not an integer' })
  @ApiNotFoundResponse({ description: 'No such course' })
  async get(@Param('id', ParseIntPipe) id: number): Promise<CourseResponse> {
    return CourseResponse.from(await this.coursesService.get(id));
  }

  @Post()
  @HttpCode(201)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiCreatedResponse({ type: CourseResponse })
  @ApiBadRequestResponse({ description: 'A field is invalid; the message names it' })
  @ApiUnauthorizedResponse({ description: 'Missing or wrong admin token' })
  @ApiConflictResponse({ description: 'A course with this code exists' })
  async create(@Body() dto: CreateCourseDto): Promise<CourseResponse> {
    return CourseResponse.from(await this.coursesService.create(dto));
  }
}
