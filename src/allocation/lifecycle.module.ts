import { Module } from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { LifecycleService } from './lifecycle.service.js';

/**
 * Drops, cancellations, promotions, capacity and window changes, for the processes that serve the API: they
 * run under the same course row lock as the workers' decisions, answered synchronously.
 */
@Module({
  imports: [CoursesModule],
  providers: [LifecycleService],
  exports: [LifecycleService],
})
export class LifecycleModule {}
