import { Module } from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { DeadLetterStoreModule } from '../dead-letters/dead-letter-store.module.js';
import { AllocationProcessor } from './allocation.processor.js';
import { AllocationService } from './allocation.service.js';

/** The worker: partition workers take jobs, and the course ledger decides them. */
@Module({
  imports: [CoursesModule, DeadLetterStoreModule],
  providers: [AllocationService, AllocationProcessor],
})
export class AllocationModule {}
