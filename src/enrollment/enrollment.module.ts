import { type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { EventsModule } from '../events/events.module.js';
import { EnrollmentMetricsMiddleware } from './enrollment-metrics.middleware.js';
import { EnrollmentController } from './enrollment.controller.js';
import { DecisionsModule } from '../decisions/decisions.module.js';
import { EnrollmentQueue } from './enrollment.queue.js';
import { EnrollmentService } from './enrollment.service.js';
import { SwapClaims } from './swap-claims.js';
import { IdempotencyStore } from './idempotency.store.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { RateLimitCounter } from './rate-limit.counter.js';
import { StudentRateLimitGuard } from './student-rate-limit.guard.js';
import { SchedulesModule } from '../schedules/schedules.module.js';
import { AppointmentsModule } from '../appointments/appointments.module.js';

/** POST /enroll and the student's requests: validate, claim the key, queue (the worker decides). */
@Module({
  imports: [AppointmentsModule, CoursesModule, DecisionsModule, EventsModule, SchedulesModule],
  controllers: [EnrollmentController],
  providers: [
    EnrollmentService,
    EnrollmentQueue,
    IdempotencyStore,
    SwapClaims,
    StudentRateLimitGuard,
    {
      provide: RateLimitCounter,
      inject: [APP_CONFIG, REDIS_CLIENT],
      useFactory: (config: AppConfig, redis: RedisClient) =>
        new RateLimitCounter(redis, config.queuePrefix, config.rateLimitWindowMs),
    },
  ],
})
export class EnrollmentModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(EnrollmentMetricsMiddleware).forRoutes({ path: 'enroll', method: RequestMethod.POST });
  }
}
