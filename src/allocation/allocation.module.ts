import { Module } from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { DeadLetterStoreModule } from '../dead-letters/dead-letter-store.module.js';
import { AllocationProcessor } from './allocation.processor.js';
import { AllocationService } from './allocation.service.js';
import { BatchDrain } from './batch-drain.js';
import { BatchReport } from './batch-report.js';
import { FailedJobSweep } from './failed-job-sweep.js';
import { FailureIsolation } from './failure-isolation.js';
import { OfferExpiry } from './offer-expiry.js';
import { OpeningDraw } from './opening-draw.js';
import { PartitionWorkers } from './partition-workers.js';

/** The worker: partition workers take jobs, the batch drain decides them through the course ledger. */
@Module({
  imports: [CoursesModule, DeadLetterStoreModule],
  providers: [
    AllocationService,
    AllocationProcessor,
    PartitionWorkers,
    BatchDrain,
    FailureIsolation,
    FailedJobSweep,
    BatchReport,
    OfferExpiry,
    OpeningDraw,
  ],
})
export class AllocationModule {}
