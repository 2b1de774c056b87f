import { Inject, Injectable } from '@nestjs/common';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import type { AcceptedRequest } from '../queue/allocation-queue.contract.js';
import { claimKey, studentKeysKey } from '../redis/redis-keys.js';

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
