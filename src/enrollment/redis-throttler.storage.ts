import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { RedisClient } from '../redis/redis-client.js';

/** The throttler's record (ThrottlerStorageRecord, which @nestjs/throttler exports as a type only). */
export interface RateLimitRecord {
  totalHits: number;
  timeToExpire: number;
  isBlocked: boolean;
  timeToBlockExpire: number;
}

/**
 * One fixed window per key: the first call of a window starts its clock, every call counts. One key per
 * call, so the script stays in one Redis Cluster slot whatever the key.
 */
const COUNT_SCRIPT = `
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
`;
const COUNT_COMMAND = 'countRateLimitedCall';

/**
 * @nestjs/throttler's storage on the service's Redis (any REDIS_MODE), so a student's calls count the same
 * whichever API process answers them. While Redis cannot be reached the limit is not enforced: a drop,
 * which needs only PostgreSQL, must not fail because a counter is out of reach (and an enrollment gets its
 * 503 from the queue anyway).
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger(RedisThrottlerStorage.name);
  private lastWarnedAt = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
  ) {
    if (!(COUNT_COMMAND in redis)) redis.defineCommand(COUNT_COMMAND, { numberOfKeys: 1, lua: COUNT_SCRIPT });
  }

  async increment(key: string, ttlMs: number, limit: number): Promise<RateLimitRecord> {
    try {
      const count = (
        this.redis as unknown as Record<string, (...args: unknown[]) => Promise<[number, number]>>
      )[COUNT_COMMAND];
      const [hits, remainingMs] = await count.call(this.redis, `${this.keyPrefix}:rate:${key}`, ttlMs);
      const seconds = Math.max(1, Math.ceil(remainingMs / 1000));
      return { totalHits: hits, timeToExpire: seconds, isBlocked: hits > limit, timeToBlockExpire: seconds };
    } catch (error) {
      if (Date.now() - this.lastWarnedAt > 10_000) {
        this.lastWarnedAt = Date.now();
        this.logger.warn({ msg: 'rate limits not enforced: Redis is unreachable', err: error });
      }
      return { totalHits: 0, timeToExpire: 0, isBlocked: false, timeToBlockExpire: 0 };
    }
  }
}
