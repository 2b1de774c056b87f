import { Module } from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { DecisionsModule } from '../decisions/decisions.module.js';
import { DeadLetterStoreModule } from './dead-letter-store.module.js';
import { DeadLettersController } from './dead-letters.controller.js';
import { DeadLettersService } from './dead-letters.service.js';

/** The operator's dead-letter endpoints, for processes that serve the API (workers only write them). */
@Module({
  imports: [DeadLetterStoreModule, CoursesModule, DecisionsModule],
  controllers: [DeadLettersController],
  providers: [DeadLettersService],
})
export class DeadLettersModule {}
