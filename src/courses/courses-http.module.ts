import { Module } from '@nestjs/common';
import { LifecycleModule } from '../allocation/lifecycle.module.js';
import { CoursesController } from './courses.controller.js';
import { CoursesModule } from './courses.module.js';

/** The /courses routes, mounted only by processes that serve the API (a worker needs the service only). */
@Module({
  imports: [CoursesModule, LifecycleModule],
  controllers: [CoursesController],
})
export class CoursesHttpModule {}
