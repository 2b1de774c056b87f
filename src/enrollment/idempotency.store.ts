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

/**
 * Idempotency keys live in Redis next to the queue: the claim is one atomic SET NX GET, so concurrent
 * duplicates across any number of API processes see exactly one winner. Records expire after
 * IDEMPOTENCY_TTL_SECONDS; the decision itself stays in PostgreSQL for good.
 */
@Injectable()
export class IdempotencyStore {
  private readonly prefix: string;
  private readonly ttlSeconds: number;

  constructor(
    @Inject(Redis) private readonly redis: Redis,
    @Inject(ConfigService) config: ConfigService,
  ) {
    const app = config.getOrThrow<AppConfig>(CONFIG_NAMESPACE);
    this.prefix = `${app.queuePrefix}:request:`;
    this.ttlSeconds = app.idempotencyTtlSeconds;
  }

  /**
   * Claims each key for its request, all in one pipeline. For each: null if claimed now, or the request
   * that holds the key already.
   */
  async claimAll(
    claims: Array<{ key: string; request: AcceptedRequest }>,
  ): Promise<Array<AcceptedRequest | null>> {
    const pipeline = this.redis.pipeline();
    for (const { key, request } of claims) {
      pipeline.set(this.prefix + key, JSON.stringify(request), 'EX', this.ttlSeconds, 'NX', 'GET');
    }
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, previous]) => {
      if (error) throw error;
      return previous === null ? null : (JSON.parse(previous as string) as AcceptedRequest);
    });
  }

  async find(key: string): Promise<AcceptedRequest | null> {
    const stored = await this.redis.get(this.prefix + key);
    return stored === null ? null : (JSON.parse(stored) as AcceptedRequest);
  }

  /** Undoes claims whose job could not be queued, so retries start afresh. */
  async releaseAll(keys: string[]): Promise<void> {
    await this.redis.del(...keys.map((key) => this.prefix + key));
  }
}
