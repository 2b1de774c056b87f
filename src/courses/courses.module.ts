import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DecisionsModule } from '../decisions/decisions.module.js';
import { AdminTokenGuard } from '../auth/admin-token.guard.js';
import { Course } from './course.entity.js';
import { CourseDraw } from './course-draw.entity.js';
import { CourseLedger } from './course-ledger.js';
import { CoursesService } from './courses.service.js';

/**
 * The course ledger and the course service, one instance each per process whoever imports them (one
 * course-window cache). A static module: a dynamic one registered with different options would be a second
 * module with a second service.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Course, CourseDraw]), DecisionsModule],
  providers: [CourseLedger, CoursesService, AdminTokenGuard],
  exports: [CourseLedger, CoursesService, AdminTokenGuard],
})
export class CoursesModule {}
