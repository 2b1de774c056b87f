import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminTokenGuard } from './admin-token.guard.js';
import { Course } from './course.entity.js';
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
