import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminTokenGuard } from './admin-token.guard.js';
import { Course } from './course.entity.js';
import { CoursesController } from './courses.controller.js';
import { CoursesService } from './courses.service.js';

/**
 * The course service, one instance per process whoever imports it (one course-existence cache). A static
 * module: a dynamic one registered with different options would be a second module with a second service.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Course])],
  providers: [CoursesService, AdminTokenGuard],
  exports: [CoursesService, AdminTokenGuard],
})
export class CoursesModule {}

/** The /courses routes, mounted only by processes that serve the API (a worker needs the service only). */
@Module({
  imports: [CoursesModule],
  controllers: [CoursesController],
})
export class CoursesHttpModule {}
