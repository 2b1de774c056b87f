import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';

/** Reconnect at most a second after Redis comes back, whoever the client is. */
const reconnectDelayMs = (attempt: number): number => Math.min(attempt * 200, 1000);

/** Where Redis is, for log lines and probes (never a credential). */
export const redisAddress = (config: AppConfig): string => `${config.redis.host}:${config.redis.port}`;

/** Options for the BullMQ workers' own connections (blocking commands wait for ever, so no timeouts). */
export function workerConnectionOptions(config: AppConfig) {
  return {
    host: config.redis.host,
    port: config.redis.port,
    maxRetriesPerRequest: null,
    retryStrategy: reconnectDelayMs,
  };
}

/**
 * The process's one shared Redis connection for non-blocking commands: the producer queues, the
 * idempotency records and the readiness ping. It fails fast instead of buffering while Redis is away, so
 * the API can answer 503 at once. (BullMQ workers open their own blocking connections.)
 */
function createRedisClient(config: AppConfig): Redis {
  return new Redis({
    host: config.redis.host,
    port: config.redis.port,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: reconnectDelayMs,
  });
}

/**
 * One log line per change of Redis' availability, not one per reconnection attempt: an outage of a minute
 * is two lines, whatever the number of clients and retries.
 */
function logAvailability(client: Redis, config: AppConfig): void {
  const logger = new Logger(RedisModule.name);
  let available: boolean | undefined;
  const address = redisAddress(config);
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

@Global()
@Module({
  providers: [
    {
      provide: Redis,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        const client = createRedisClient(config);
        // The listener also keeps ioredis from crashing the process on a connection error.
        logAvailability(client, config);
        return client;
      },
    },
  ],
  exports: [Redis],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(Redis) private readonly client: Redis) {}

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
