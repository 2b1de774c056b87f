import { Logger } from '@nestjs/common';
import type { RedisClient } from '../redis/redis-client.js';
import { rateLimitBucket, rateLimitKey } from '../redis/redis-keys.js';
import { GroupCommit } from './group-commit.js';

/** A counter once counted: its calls in the window so far, and the seconds until the window ends. */
export interface RateLimitCount {
  hits: number;
  secondsLeft: number;
}

/**
 * One fixed window per counter: the first call of a window starts its clock, every call counts. Counts a
 * whole batch of counters of one bucket (one hash tag, so one Redis Cluster slot) in one call. KEYS: the
 * counters; ARGV: the window in ms. Returns hits and remaining ms per counter.
 */
const COUNT_SCRIPT = `
local counted = {}
for i, key in ipairs(KEYS) do
  local hits = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  counted[2 * i - 1] = hits
  counted[2 * i] = ttl
end
return counted
`;
const COUNT_COMMAND = 'countRateLimitedCalls';
/** The most counters one script call counts. */
const MAX_BATCH = 500;

/** Not enforced: what a call gets while Redis cannot be reached. */
const UNCOUNTED = { hits: 0, remainingMs: 0 };

/**
 * The per-student counters on the service's Redis (any REDIS_MODE), so a student's calls count the same
 * whichever API process answers them. Counting rides a group commit, as the claims do: a call to an idle
 * bucket is counted at once, calls arriving while its script runs are counted together in the next one, so
 * a stampede costs one Redis call per batch rather than one per request, and the count stays exact.
 * While Redis cannot be reached the limit is not enforced: a drop, which needs only PostgreSQL, must not
 * fail because a counter is out of reach (and an enrollment gets its 503 from the queue anyway).
 */
export class RateLimitCounter {
  private readonly logger = new Logger(RateLimitCounter.name);
  private lastWarnedAt = 0;
  /** A lane per bucket: one script call counts counters of one slot. */
  private readonly counts = new GroupCommit<string, { hits: number; remainingMs: number }>(
    (lane, counters) => this.count(lane, counters),
    MAX_BATCH,
  );

  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
    private readonly windowMs: number,
  ) {
    if (!(COUNT_COMMAND in redis)) redis.defineCommand(COUNT_COMMAND, { lua: COUNT_SCRIPT });
  }

  /** Counts one call on `key` in the current window; 0 hits while Redis cannot be reached. */
  async increment(key: string): Promise<RateLimitCount> {
    const { hits, remainingMs } = await this.counts.submit(String(rateLimitBucket(key)), key);
    return { hits, secondsLeft: Math.max(1, Math.ceil(remainingMs / 1000)) };
  }

  private async count(
    lane: string,
    counters: string[],
  ): Promise<Array<{ hits: number; remainingMs: number }>> {
    const bucket = Number(lane);
    try {
      const count = (this.redis as unknown as Record<string, (...args: unknown[]) => Promise<number[]>>)[
        COUNT_COMMAND
      ];
      const keys = counters.map((counter) => rateLimitKey(this.keyPrefix, bucket, counter));
      const counted = await count.call(this.redis, keys.length, ...keys, this.windowMs);
      return counters.map((_, index) => ({ hits: counted[2 * index], remainingMs: counted[2 * index + 1] }));
    } catch (error) {
      if (Date.now() - this.lastWarnedAt > 10_000) {
        this.lastWarnedAt = Date.now();
        this.logger.warn({ msg: 'rate limits not enforced: Redis is unreachable', err: error });
      }
      return counters.map(() => UNCOUNTED);
    }
  }
}
