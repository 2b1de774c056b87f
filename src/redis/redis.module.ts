import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { createRedisClient, REDIS_CLIENT, type RedisClient, redisAddress } from './redis-client.js';

/**
 * One log line per change of Redis' availability, not one per reconnection attempt: an outage of a minute
 * is two lines, whatever the number of clients and retries.
 */
function logAvailability(client: RedisClient, config: AppConfig): void {
  const logger = new Logger(RedisModule.name);
  let available: boolean | undefined;
  const address = redisAddress(config.redis);
  client.on('ready', () => {
    if (available !== true) logger.log({ msg: `redis available at ${address}`, dependency: 'redis' });
    available = true;
  });
  client.on('error', (error: Error) => {
    if (available === false) return;
    available = false;
    logger.warn({
      msg: `redis unavailable at ${address}, retrying`,
      dependency: 'redis',
      reason: error.message,
    });
  });
}

/**
 * The process's one shared Redis client for non-blocking commands (the producer queues, the claims, the
 * readiness ping), of the topology REDIS_MODE names. BullMQ workers open their own blocking connections
 * from the same configuration (createRedisClient).
 */
@Global()
@Module({
  providers: [
    {
      provide: REDIS_CLIENT,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        const client = createRedisClient(config.redis, 'commands');
        // The listener also keeps ioredis from crashing the process on a connection error.
        logAvailability(client, config);
        return client;
      },
    },
  ],
  exports: [REDIS_CLIENT],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS_CLIENT) private readonly client: RedisClient) {}

  // Dependants (queues, workers, health) shut down first, so this connection closes last. With Redis away
  // there is nothing to flush: drop the connection rather than wait for a QUIT that cannot be sent.
  async onApplicationShutdown(): Promise<void> {
    if (this.client.status !== 'ready') {
      this.client.disconnect();
      return;
    }
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
