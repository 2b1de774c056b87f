import { Module } from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { EventsController } from './events.controller.js';
import { EventsService } from './events.service.js';

/** The record's read side, for processes that serve the API: a request's events, a course's by cursor. */
@Module({
  imports: [CoursesModule],
  controllers: [EventsController],
  providers: [EventsService],
  exports: [EventsService],
})
export class EventsModule {}
