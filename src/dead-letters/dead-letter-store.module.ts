import { Module } from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { DeadLetterStore } from './dead-letter.store.js';

/** The dead-letter store, for the workers (which set requests aside) and the operators' routes. */
@Module({
  imports: [CoursesModule],
  providers: [DeadLetterStore],
  exports: [DeadLetterStore],
})
export class DeadLetterStoreModule {}
