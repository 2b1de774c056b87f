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

  /** Claims the key for this request; returns null if claimed now, or the request that holds it already. */
  async claim(key: string, request: AcceptedRequest): Promise<AcceptedRequest | null> {
    const previous = await this.redis.set(
      this.prefix + key,
      JSON.stringify(request),
      'EX',
      this.ttlSeconds,
      'NX',
      'GET',
    );
    return previous === null ? null : (JSON.parse(previous) as AcceptedRequest);
  }

  async find(key: string): Promise<AcceptedRequest | null> {
    const stored = await this.redis.get(this.prefix + key);
    return stored === null ? null : (JSON.parse(stored) as AcceptedRequest);
  }

  /** Undoes a claim whose job could not be queued, so a retry starts afresh. */
  async release(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }
}
