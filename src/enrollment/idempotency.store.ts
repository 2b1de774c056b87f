import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Redis } from 'ioredis';
import { type AppConfig, CONFIG_NAMESPACE } from '../config/app-config.js';

/** What the API stored when it accepted a request; compared against replays of the same key. */
export interface AcceptedRequest {
  student_id: string;
  course_id: number;
  priority: number;
  requested_at: string;
  /** The queue job that carries the request (absent only while it is being claimed). */
  job_id?: string;
}

/** Per course, how many requests were ever accepted (claimed); queue depth is this minus those decided. */
export const acceptedCountsKey = (queuePrefix: string): string => `${queuePrefix}:accepted-per-course`;

/**
 * Claims keys atomically and counts the claims per course. Plain GET then SET inside the script (rather
 * than SET NX GET) keeps it working on Redis 6.2.
 * KEYS: accepted-counts hash, then one key per request. ARGV: ttl, then per request its record and course.
 */
const CLAIM_SCRIPT = `
local holders = {}
local claimedPerCourse = {}
for i = 2, #KEYS do
  local previous = redis.call('GET', KEYS[i])
  if previous then
    holders[i - 1] = previous
  else
    local course = ARGV[2 * i - 1]
    redis.call('SET', KEYS[i], ARGV[2 * i - 2], 'EX', ARGV[1])
    holders[i - 1] = ''
    claimedPerCourse[course] = (claimedPerCourse[course] or 0) + 1
  end
end
for course, claimed in pairs(claimedPerCourse) do redis.call('HINCRBY', KEYS[1], course, claimed) end
return holders
`;

type ClaimingRedis = Redis & {
  claimRequests(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<string[]>;
};

/**
 * Idempotency keys live in Redis next to the queue: a batch's claims are one atomic script, so concurrent
 * duplicates across any number of API processes see exactly one winner. Records expire after
 * IDEMPOTENCY_TTL_SECONDS; the decision itself stays in PostgreSQL for good.
 */
@Injectable()
export class IdempotencyStore {
  private readonly prefix: string;
  private readonly acceptedCounts: string;
  private readonly ttlSeconds: number;
  private readonly redis: ClaimingRedis;

  constructor(@Inject(Redis) redis: Redis, @Inject(ConfigService) config: ConfigService) {
    const app = config.getOrThrow<AppConfig>(CONFIG_NAMESPACE);
    this.prefix = `${app.queuePrefix}:request:`;
    this.acceptedCounts = acceptedCountsKey(app.queuePrefix);
    this.ttlSeconds = app.idempotencyTtlSeconds;
    if (!('claimRequests' in redis)) redis.defineCommand('claimRequests', { lua: CLAIM_SCRIPT });
    this.redis = redis as ClaimingRedis;
  }

  /**
   * Claims each key of a batch for its request. For each: null if claimed now, or the request that holds
   * the key already.
   */
  async claimAll(
    claims: Array<{ key: string; request: AcceptedRequest }>,
  ): Promise<Array<AcceptedRequest | null>> {
    const holders = await this.redis.claimRequests(
      claims.length + 1,
      this.acceptedCounts,
      ...claims.map(({ key }) => this.prefix + key),
      this.ttlSeconds,
      ...claims.flatMap(({ request }) => [JSON.stringify(request), request.course_id]),
    );
    return holders.map((holder) => (holder === '' ? null : (JSON.parse(holder) as AcceptedRequest)));
  }

  async find(key: string): Promise<AcceptedRequest | null> {
    const stored = await this.redis.get(this.prefix + key);
    return stored === null ? null : (JSON.parse(stored) as AcceptedRequest);
  }

  /** Undoes claims whose job could not be queued, so retries start afresh. */
  async releaseAll(claims: Array<{ key: string; request: AcceptedRequest }>): Promise<void> {
    const perCourse = new Map<number, number>();
    for (const { request } of claims)
      perCourse.set(request.course_id, (perCourse.get(request.course_id) ?? 0) + 1);
    const transaction = this.redis.multi().del(...claims.map(({ key }) => this.prefix + key));
    for (const [courseId, count] of perCourse)
      transaction.hincrby(this.acceptedCounts, String(courseId), -count);
    await transaction.exec();
  }
}
