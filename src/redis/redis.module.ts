import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Redis } from 'ioredis';
import { type AppConfig, CONFIG_NAMESPACE } from '../config/app-config.js';

/**
 * The process's one shared Redis connection for non-blocking commands: the producer queues, the
 * idempotency records and the readiness ping. It fails fast instead of buffering while Redis is away, so
 * the API can answer 503 at once. (BullMQ workers open their own blocking connections.)
 */
export function createRedisClient(config: AppConfig): Redis {
  return new Redis({
    host: config.redis.host,
    port: config.redis.port,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
}

@Global()
@Module({
  providers: [
    {
      provide: Redis,
      inject: [ConfigService],
      useFactory: (config: ConfigService) => {
        const client = createRedisClient(config.getOrThrow<AppConfig>(CONFIG_NAMESPACE));
        const logger = new Logger('Redis');
        // Without a listener ioredis would crash the process on a connection error; readiness reports it.
        client.on('error', (error: Error) => logger.warn(`redis: ${error.message}`));
        return client;
      },
    },
  ],
  exports: [Redis],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(Redis) private readonly client: Redis) {}

  // Dependants (queues, workers, health) shut down first, so this connection closes last.
  async onApplicationShutdown(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
