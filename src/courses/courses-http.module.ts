import { Module } from '@nestjs/common';
import { CoursesController } from './courses.controller.js';
import { CoursesModule } from './courses.module.js';

/** The /courses routes, mounted only by processes that serve the API (a worker needs the ledger only). */
@Module({
  imports: [CoursesModule],
  controllers: [CoursesController],
})
export class CoursesHttpModule {}
