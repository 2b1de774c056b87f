import { BullModule } from '@nestjs/bullmq';
import { type DynamicModule, Module } from '@nestjs/common';
import { AllocationModule } from '../allocation/allocation.module.js';
import { CoursesModule } from '../courses/courses.module.js';
import { EnrollmentController } from './enrollment.controller.js';
import { EnrollmentQueue, partitionQueueNames } from './enrollment.queue.js';
import { EnrollmentService } from './enrollment.service.js';
import { IdempotencyStore } from './idempotency.store.js';

@Module({})
export class EnrollmentModule {
  static register(options: { partitions: number }): DynamicModule {
    return {
      module: EnrollmentModule,
      imports: [
        BullModule.registerQueue(...partitionQueueNames(options.partitions).map((name) => ({ name }))),
        CoursesModule.register({ serveHttp: false }),
        AllocationModule,
      ],
      controllers: [EnrollmentController],
      providers: [EnrollmentService, EnrollmentQueue, IdempotencyStore],
      exports: [EnrollmentQueue],
    };
  }
}
