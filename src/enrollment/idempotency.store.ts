import { Inject, Injectable } from '@nestjs/common';
import type { ChainableCommander } from 'ioredis';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import type { AcceptedRequest } from '../queue/allocation-queue.contract.js';
import { acceptedCountsKey, claimKey, jobsWithDuplicatesKey, studentKeysKey } from '../redis/redis-keys.js';

/**
 * Claims keys atomically and counts the claims per course. Plain GET then SET inside the script (rather
 * than SET NX GET) keeps it working on Redis 6.2. Every key it touches carries the partition's hash tag.
 * A job carrying a request whose key was held already (a duplicate, which rides along but is not the job's
 * to decide) is added to the partition's jobs-with-duplicates set: the worker checks the claims of those
 * jobs only. Each new claim's key is also added to its student's set in the partition, so a student's
 * queued requests can be listed. It runs after the command storing the batch's job in one MULTI, and
 * claims nothing unless that job exists: a MULTI runs every command even when one fails (a script a
 * Cluster node lost with a failover answers NOSCRIPT), so this check is what keeps a claim from ever
 * existing without its job. KEYS: accepted-counts hash, jobs-with-duplicates set, the job's hash, then
 * per request its claim and its student's set. ARGV: ttl, the job's id, then per request its record,
 * course and key.
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[3]) == 0 then return redis.error_reply('NOJOB the batch job was not stored') end
local claimants = {}
local claimedPerCourse = {}
for r = 1, (#KEYS - 3) / 2 do
  local claim, studentKeys = KEYS[2 * r + 2], KEYS[2 * r + 3]
  local previous = redis.call('GET', claim)
  if previous then
    claimants[r] = previous
    redis.call('SADD', KEYS[2], ARGV[2])
  else
    local course = ARGV[3 * r + 1]
    redis.call('SET', claim, ARGV[3 * r], 'EX', ARGV[1])
    redis.call('SADD', studentKeys, ARGV[3 * r + 2])
    redis.call('EXPIRE', studentKeys, ARGV[1])
    claimants[r] = ''
    claimedPerCourse[course] = (claimedPerCourse[course] or 0) + 1
  end
end
for course, claimed in pairs(claimedPerCourse) do redis.call('HINCRBY', KEYS[1], course, claimed) end
return claimants
`;

const CLAIM_COMMAND = 'claimRequests';

type Claims = Array<{ key: string; request: AcceptedRequest }>;

/**
 * Idempotency keys live in Redis next to the queue: a batch's claims are one atomic script, run in the same
 * MULTI that stores the batch's job, so concurrent duplicates across any number of API processes see exactly
 * one winner and no claim ever exists without its job. Records expire after IDEMPOTENCY_TTL_SECONDS; the
 * decision itself stays in PostgreSQL for good.
 */
@Injectable()
export class IdempotencyStore {
  private readonly queuePrefix: string;
  private readonly partitions: number;
  private readonly ttlSeconds: number;

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.queuePrefix = config.queuePrefix;
    this.partitions = config.allocationPartitions;
    this.ttlSeconds = config.idempotencyTtlSeconds;
  }

  /** A transaction on this client in which claimIn() may run (ioredis copies commands into a MULTI). */
  multi(client: RedisClient): ChainableCommander {
    if (!(CLAIM_COMMAND in client)) client.defineCommand(CLAIM_COMMAND, { lua: CLAIM_SCRIPT });
    return client.multi();
  }

  /**
   * Adds the claims of one partition's batch, carried by job `job` (its id and the key of its hash), to a
   * transaction from multi(), after the command that stores the job; parseClaims() reads its reply.
   */
  claimIn(
    transaction: ChainableCommander,
    partition: number,
    job: { id: string; key: string },
    claims: Claims,
  ): void {
    (transaction as unknown as Record<string, (...args: Array<string | number>) => unknown>)[CLAIM_COMMAND](
      2 * claims.length + 3,
      acceptedCountsKey(this.queuePrefix, partition),
      jobsWithDuplicatesKey(this.queuePrefix, partition),
      job.key,
      ...claims.flatMap(({ key, request }) => [
        claimKey(this.queuePrefix, partition, key),
        studentKeysKey(this.queuePrefix, partition, request.studentId),
      ]),
      this.ttlSeconds,
      job.id,
      ...claims.flatMap(({ key, request }) => [JSON.stringify(request), request.courseId, key]),
    );
  }

  /** For each claim: null if claimed now, or the request that held the key already. */
  parseClaims(reply: unknown): Array<AcceptedRequest | null> {
    return (reply as string[]).map((claimant) =>
      claimant === '' ? null : (JSON.parse(claimant) as AcceptedRequest),
    );
  }

  /** The claim of a key, whichever partition holds it. */
  async find(key: string): Promise<AcceptedRequest | null> {
    const [found] = await this.findIn(this.allPartitions(), [key]);
    return found;
  }

  /** For each key, its claim in a partition other than `partition`, if any. */
  findOutside(partition: number, keys: readonly string[]): Promise<Array<AcceptedRequest | null>> {
    return this.findIn(
      this.allPartitions().filter((other) => other !== partition),
      keys,
    );
  }

  /**
   * A student's claimed requests, by key: each partition's set of the student's keys, then those keys'
   * claims (a key whose claim expired is left out). Two reads per partition, all at once.
   */
  async findByStudent(studentId: string): Promise<Map<string, AcceptedRequest>> {
    const found = new Map<string, AcceptedRequest>();
    await Promise.all(
      this.allPartitions().map(async (partition) => {
        const keys = await this.redis.smembers(studentKeysKey(this.queuePrefix, partition, studentId));
        if (keys.length === 0) return;
        const claims = await this.redis.mget(
          ...keys.map((key) => claimKey(this.queuePrefix, partition, key)),
        );
        claims.forEach((claim, index) => {
          if (claim !== null) found.set(keys[index], JSON.parse(claim) as AcceptedRequest);
        });
      }),
    );
    return found;
  }

  private allPartitions(): number[] {
    return Array.from({ length: this.partitions }, (_, partition) => partition);
  }

  /** One MGET per partition (each in its own slot), all at once. */
  private async findIn(
    partitions: number[],
    keys: readonly string[],
  ): Promise<Array<AcceptedRequest | null>> {
    const found: Array<AcceptedRequest | null> = keys.map(() => null);
    const replies = await Promise.all(
      partitions.map((partition) =>
        this.redis.mget(...keys.map((key) => claimKey(this.queuePrefix, partition, key))),
      ),
    );
    for (const stored of replies) {
      stored.forEach((value, index) => {
        if (value !== null) found[index] ??= JSON.parse(value) as AcceptedRequest;
      });
    }
    return found;
  }
}
