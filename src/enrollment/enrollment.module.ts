import { BullModule } from '@nestjs/bullmq';
import {
  type DynamicModule,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  RequestMethod,
} from '@nestjs/common';
import { AllocationModule } from '../allocation/allocation.module.js';
import { CoursesModule } from '../courses/courses.module.js';
import { EnrollmentMetricsMiddleware } from './enrollment-metrics.middleware.js';
import { EnrollmentController } from './enrollment.controller.js';
import { EnrollmentQueue, partitionQueueNames } from './enrollment.queue.js';
import { EnrollmentService } from './enrollment.service.js';
import { IdempotencyStore } from './idempotency.store.js';

@Module({})
export class EnrollmentModule implements NestModule {
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

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(EnrollmentMetricsMiddleware).forRoutes({ path: 'enroll', method: RequestMethod.POST });
  }
}
