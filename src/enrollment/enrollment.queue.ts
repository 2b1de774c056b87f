import { Inject, Injectable } from '@nestjs/common';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DecisionsService } from '../decisions/decisions.service.js';
import type { AcceptedRequest } from '../queue/allocation-queue.contract.js';
import { AllocationQueues } from '../queue/allocation-queues.js';
import { type Claim, ClaimAndQueue, DrawClosed } from '../queue/claim-and-queue.js';
import { GroupCommit } from './group-commit.js';
import { IdempotencyStore } from './idempotency.store.js';

/**
 * The producer. Requests are group-committed per (partition, priority): a lone request is queued at once;
 * while a job for its lane is being stored, later requests gather and go together in the next job, up to
 * ALLOCATION_BATCH_MAX. A lane stores one job at a time, so jobs keep the order requests were accepted in
 * (a course's requests of one priority always share a lane), and a stampede costs one Redis transaction
 * per batch instead of one per request, and the workers one database transaction per batch.
 */
@Injectable()
export class EnrollmentQueue {
  /** Lanes are (partition, priority): a course's requests of one priority always share one. */
  private readonly commits: GroupCommit<Claim, AcceptedRequest | null>;
  /** Draw entries: lanes are courses (each course has its own entries). */
  private readonly drawEntries: GroupCommit<Claim, AcceptedRequest | null>;

  constructor(
    @Inject(AllocationQueues) private readonly queues: AllocationQueues,
    @Inject(ClaimAndQueue) private readonly claimAndQueue: ClaimAndQueue,
    @Inject(IdempotencyStore) private readonly idempotency: IdempotencyStore,
    @Inject(DecisionsService) private readonly decisions: DecisionsService,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.commits = new GroupCommit((_lane, batch) => this.flush(batch), config.allocationBatchMax);
    this.drawEntries = new GroupCommit(
      (_lane, batch) => this.flush(batch, 'draw_entry'),
      config.allocationBatchMax,
    );
  }

  /**
   * Claims the key and queues the request. Resolves with null once the job holding it is stored in Redis,
   * or with the request that already holds the key (nothing queued then): a claim in Redis, or a decision
   * PostgreSQL holds for a key Redis no longer knows.
   */
  accept(key: string, request: AcceptedRequest): Promise<AcceptedRequest | null> {
    const partition = this.queues.partitionOf(request.courseId);
    return this.commits.submit(`${partition}:${request.priority}`, { key, request });
  }

  /**
   * A draw entry (contract v3, Fair opening): claimed and entered in its course's draw, group-committed per
   * course. If the draw has taken its entries meanwhile (an API whose clock runs behind the workers'), the
   * request is queued as a plain one, after the draw.
   */
  async acceptDrawEntry(key: string, request: AcceptedRequest): Promise<AcceptedRequest | null> {
    try {
      return await this.drawEntries.submit(`${request.courseId}`, { key, request });
    } catch (error) {
      if (error instanceof DrawClosed) return this.accept(key, request);
      throw error;
    }
  }

  /**
   * One batch of one lane: answer the keys that are known already, then claim the others and store their job
   * in one Redis transaction, so there is never a claim without its job, and a failure writes nothing.
   */
  private async flush(
    batch: Claim[],
    admission: 'plain' | 'draw_entry' = 'plain',
  ): Promise<Array<AcceptedRequest | null>> {
    // BullMQ waits for a connection that never came up instead of failing: answer 503 at once.
    if (this.redis.status !== 'ready') throw new Error(`redis is ${this.redis.status}`);
    const partition = this.queues.partitionOf(batch[0].request.courseId);
    const claimants = await this.knownClaimants(partition, batch);
    const fresh = batch.filter((_, index) => claimants[index] === null);
    if (fresh.length === 0) return claimants;
    const claimed =
      admission === 'draw_entry'
        ? await this.claimAndQueue.commitDrawEntries(partition, fresh)
        : await this.claimAndQueue.commit(partition, fresh);
    let next = 0;
    return claimants.map((claimant) => claimant ?? claimed[next++]);
  }

  /**
   * For each request, what already holds its key outside this partition's claims: a claim in another
   * partition (the key was sent for a course elsewhere), or a decision in PostgreSQL whose claim Redis lost.
   * One read of each kind per batch. A database outage does not stop acceptance: the worker decides a key
   * once whatever the queue holds.
   */
  private async knownClaimants(partition: number, batch: Claim[]): Promise<Array<AcceptedRequest | null>> {
    const keys = batch.map(({ key }) => key);
    const [elsewhere, decided] = await Promise.all([
      this.idempotency.findOutside(partition, keys),
      this.decisions.findMany(keys).catch(() => new Map()),
    ]);
    return keys.map((key, index) => {
      const decision = decided.get(key);
      if (decision) {
        return {
          studentId: decision.studentId,
          courseId: decision.courseId,
          priority: decision.priority,
          requestedAt: decision.requestedAt.toISOString(),
          ...(decision.swapFor ? { swapFor: decision.swapFor } : {}),
        };
      }
      return elsewhere[index];
    });
  }
}
