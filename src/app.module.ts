import { BullModule } from '@nestjs/bullmq';
import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { REDIS_CLIENT, type RedisClient } from './redis/redis-client.js';
import { AllocationModule } from './allocation/allocation.module.js';
import { AppointmentsModule } from './appointments/appointments.module.js';
import { ClientTokenGuard } from './auth/client-token.guard.js';
import { type AppConfig, AppConfigModule } from './config/app-config.js';
import { CoursesHttpModule } from './courses/courses-http.module.js';
import { dataSourceOptions } from './database/data-source.js';
import { DomainExceptionFilter } from './http/domain-exception.filter.js';
import { AppValidationPipe } from './http/validation.pipe.js';
import { EnrollRequestDto } from './enrollment/dto/enroll-request.dto.js';
import { acceptEnrollRequest } from './enrollment/dto/enroll-request.accept.js';
import { EnrollmentModule } from './enrollment/enrollment.module.js';
import { EventsModule } from './events/events.module.js';
import { DeadLettersModule } from './dead-letters/dead-letters.module.js';
import { HealthModule } from './health/health.module.js';
import { LiveModule } from './live/live.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { QueueBoardModule } from './queue-board/queue-board.module.js';
import { QueueModule } from './queue/queue.module.js';
import { RedisModule } from './redis/redis.module.js';
import { StudentsModule } from './students/students.module.js';
import { WebhookDeliveryModule, WebhooksModule } from './webhooks/webhooks.module.js';

@Module({})
export class AppModule {
  /** The role decides the modules: an API process never allocates; a worker serves only probes, metrics and docs. */
  static forRoot(config: AppConfig): DynamicModule {
    const servesApi = config.role !== 'worker';
    const allocates = config.role !== 'api';
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        TypeOrmModule.forRoot({
          ...dataSourceOptions(config.databaseUrl),
          migrationsRun: config.runMigrations,
          // main.ts has waited for the database already; a failure now is reported at once, not in 27 s.
          retryAttempts: 2,
          retryDelay: 1000,
        }),
        LoggingModule,
        RedisModule,
        BullModule.forRootAsync({
          inject: [REDIS_CLIENT],
          useFactory: (redis: RedisClient) => ({ connection: redis, prefix: config.queuePrefix }),
        }),
        QueueModule.register({ partitions: config.allocationPartitions }),
        HealthModule,
        MetricsModule,
        ...(servesApi
          ? [
              CoursesHttpModule,
              EventsModule,
              LiveModule,
              DeadLettersModule,
              EnrollmentModule,
              StudentsModule,
              AppointmentsModule,
              QueueBoardModule,
              WebhooksModule,
            ]
          : []),
        ...(allocates ? [AllocationModule, WebhookDeliveryModule] : []),
      ],
      providers: [
        {
          provide: APP_PIPE,
          useValue: new AppValidationPipe(new Map([[EnrollRequestDto, acceptEnrollRequest]])),
        },
        { provide: APP_FILTER, useClass: DomainExceptionFilter },
        { provide: APP_GUARD, useClass: ClientTokenGuard },
      ],
    };
  }
}
