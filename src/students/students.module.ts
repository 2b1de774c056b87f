import { Module } from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { DecisionsModule } from '../decisions/decisions.module.js';
import { SchedulesModule } from '../schedules/schedules.module.js';
import { StudentsController } from './students.controller.js';

/** Students' schedules: what they hold, their limits and their overrides (contract v3, Schedules). */
@Module({
  imports: [CoursesModule, DecisionsModule, SchedulesModule],
  controllers: [StudentsController],
})
export class StudentsModule {}
