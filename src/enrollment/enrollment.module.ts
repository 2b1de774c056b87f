import { BullModule } from '@nestjs/bullmq';
import { Queue } from 'bullmq';
import {
  type DynamicModule,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  RequestMethod,
} from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { EventsModule } from '../events/events.module.js';
import { EnrollmentMetricsMiddleware } from './enrollment-metrics.middleware.js';
import { EnrollmentController } from './enrollment.controller.js';
import { DecisionsModule } from '../decisions/decisions.module.js';
import { partitionQueueNames } from '../queue/allocation-queue.contract.js';
import { EnrollmentQueue } from './enrollment.queue.js';
import { EnrollmentService } from './enrollment.service.js';
import { IdempotencyStore } from './idempotency.store.js';
import { ThrottlerModule } from '@nestjs/throttler';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';
import { StudentRateLimitGuard } from './student-rate-limit.guard.js';

/**
 * The API's partition queues, as @nestjs/bullmq creates them. They report connection trouble through the
 * shared Redis client's availability log, once per outage: without a listener from birth, BullMQ prints
 * every reconnection failure as a raw stack trace. And they share that client, which RedisModule closes:
 * with Redis away, BullMQ's own close would wait for a connection that may never come.
 */
class PartitionQueue extends Queue {
  constructor(...args: ConstructorParameters<typeof Queue>) {
    super(...args);
    this.on('error', () => undefined);
  }

  override async close(): Promise<void> {
    if ((this.opts.connection as { status?: string }).status === 'ready') await super.close();
  }
}
BullModule.queueClass = PartitionQueue;

@Module({})
export class EnrollmentModule implements NestModule {
  static register(options: { partitions: number }): DynamicModule {
    return {
      module: EnrollmentModule,
      imports: [
        BullModule.registerQueue(
          // A forced disconnect first awaits BullMQ's client, which never resolves while Redis is away;
          // the shared client is closed by RedisModule anyway.
          ...partitionQueueNames(options.partitions).map((name) => ({
            name,
            forceDisconnectOnShutdown: false,
          })),
        ),
        ThrottlerModule.forRootAsync({
          inject: [APP_CONFIG, REDIS_CLIENT],
          useFactory: (config: AppConfig, redis: RedisClient) => ({
            throttlers: [{ ttl: config.rateLimitWindowMs, limit: config.rateLimitPerStudent }],
            storage: new RedisThrottlerStorage(redis, config.queuePrefix),
            // Retry-After is set on a 429 only: the X-RateLimit-* headers are not in docs/guarantees.md §19.
            setHeaders: false,
          }),
        }),
        CoursesModule,
        DecisionsModule,
        EventsModule,
      ],
      controllers: [EnrollmentController],
      providers: [EnrollmentService, EnrollmentQueue, IdempotencyStore, StudentRateLimitGuard],
      exports: [EnrollmentQueue],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(EnrollmentMetricsMiddleware).forRoutes({ path: 'enroll', method: RequestMethod.POST });
  }
}
