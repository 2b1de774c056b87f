import { type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { EventsModule } from '../events/events.module.js';
import { EnrollmentMetricsMiddleware } from './enrollment-metrics.middleware.js';
import { EnrollmentController } from './enrollment.controller.js';
import { DecisionsModule } from '../decisions/decisions.module.js';
import { EnrollmentQueue } from './enrollment.queue.js';
import { EnrollmentService } from './enrollment.service.js';
import { IdempotencyStore } from './idempotency.store.js';
import { ThrottlerModule } from '@nestjs/throttler';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';
import { StudentRateLimitGuard } from './student-rate-limit.guard.js';

/** POST /enroll and the student's requests: validate, claim the key, queue (the worker decides). */
@Module({
  imports: [
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
})
export class EnrollmentModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(EnrollmentMetricsMiddleware).forRoutes({ path: 'enroll', method: RequestMethod.POST });
  }
}
