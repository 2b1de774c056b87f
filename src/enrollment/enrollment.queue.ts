import { getQueueToken } from '@nestjs/bullmq';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Job, type Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DecisionsService } from '../decisions/decisions.service.js';
import {
  type AcceptedRequest,
  AllocationJobName,
  type AllocationJobData,
  batchJobIdFor,
  allocationJobOptions,
  partitionOf,
  partitionQueueNames,
} from '../queue/allocation-queue.contract.js';
import { GroupCommit } from './group-commit.js';
import { IdempotencyStore } from './idempotency.store.js';

/** A request on its way into a job. */
interface Submitted {
  key: string;
  request: AcceptedRequest;
}

/**
 * The producer. Requests are group-committed per (partition, priority): a lone request is queued at once;
 * while a job for its lane is being stored, later requests gather and go together in the next job, up to
 * ALLOCATION_BATCH_MAX. A lane stores one job at a time, so jobs keep the order requests were accepted in
 * (a course's requests of one priority always share a lane), and a stampede costs one Redis transaction
 * per batch instead of one per request, and the workers one database transaction per batch.
 */
@Injectable()
export class EnrollmentQueue implements OnModuleInit {
  private readonly partitions: number;
  private queues: Queue[] = [];
  /** Lanes are (partition, priority): a course's requests of one priority always share one. */
  private readonly commits: GroupCommit<Submitted, AcceptedRequest | null>;
  /** Partition queues this process has already pinned to global concurrency 1. */
  private readonly serialized = new Set<Queue>();

  constructor(
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(IdempotencyStore) private readonly idempotency: IdempotencyStore,
    @Inject(DecisionsService) private readonly decisions: DecisionsService,
    @Inject(Redis) private readonly redis: Redis,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.partitions = config.allocationPartitions;
    this.commits = new GroupCommit((_lane, batch) => this.flush(batch), config.allocationBatchMax);
  }

  onModuleInit(): void {
    // The partition count comes from configuration, so the queues are looked up by name, not injected.
    this.queues = partitionQueueNames(this.partitions).map((name) => {
      return this.moduleRef.get<Queue>(getQueueToken(name), { strict: false });
    });
  }

  /**
   * Claims the key and queues the request. Resolves with null once the job holding it is stored in Redis,
   * or with the request that already holds the key (nothing queued then): a claim in Redis, or a decision
   * PostgreSQL holds for a key Redis no longer knows.
   */
  accept(key: string, request: AcceptedRequest): Promise<AcceptedRequest | null> {
    const partition = partitionOf(request.courseId, this.partitions);
    return this.commits.submit(`${partition}:${request.priority}`, { key, request });
  }

  /**
   * One batch of one lane: answer the keys that are known already, then claim the others and store their job
   * in one Redis transaction, so there is never a claim without its job, and a failure writes nothing.
   */
  private async flush(batch: Submitted[]): Promise<Array<AcceptedRequest | null>> {
    // BullMQ waits for a connection that never came up instead of failing: answer 503 at once.
    if (this.redis.status !== 'ready') throw new Error(`redis is ${this.redis.status}`);
    const partition = partitionOf(batch[0].request.courseId, this.partitions);
    const claimants = await this.knownClaimants(partition, batch);
    const fresh = batch.filter((_, index) => claimants[index] === null);
    if (fresh.length === 0) return claimants;
    const claimed = await this.claimAndQueue(partition, fresh);
    let next = 0;
    return claimants.map((claimant) => claimant ?? claimed[next++]);
  }

  /**
   * For each request, what already holds its key outside this partition's claims: a claim in another
   * partition (the key was sent for a course elsewhere), or a decision in PostgreSQL whose claim Redis lost.
   * One read of each kind per batch. A database outage does not stop acceptance: the worker decides a key
   * once whatever the queue holds.
   */
  private async knownClaimants(
    partition: number,
    batch: Submitted[],
  ): Promise<Array<AcceptedRequest | null>> {
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
        };
      }
      return elsewhere[index];
    });
  }

  /**
   * MULTI: the claim script, then the job carrying every request of the batch. A request whose key turned
   * out to be held already travels in the job too, but its claim names another job, so the worker skips it.
   */
  private async claimAndQueue(partition: number, batch: Submitted[]): Promise<Array<AcceptedRequest | null>> {
    const queue = this.queues[partition];
    await this.ensureSerialized(queue);
    const jobId = batchJobIdFor(batch.map(({ key }) => key));
    const priority = batch[0].request.priority;
    const data: AllocationJobData = {
      priority,
      duplicatesMarked: true,
      requests: batch.map(({ key, request }) => ({
        idempotencyKey: key,
        studentId: request.studentId,
        courseId: request.courseId,
        requestedAt: request.requestedAt,
      })),
    };
    const client = (await queue.backend.client) as unknown as Redis;
    const transaction = this.idempotency.multi(client);
    this.idempotency.claimIn(
      transaction,
      partition,
      jobId,
      batch.map(({ key, request }) => ({ key, request: { ...request, jobId } })),
    );
    const job = new Job<AllocationJobData>(
      queue,
      AllocationJobName.DecideRequests,
      data,
      allocationJobOptions(priority),
      jobId,
    );
    const added = job.addJob(transaction as never);
    added.catch(() => undefined); // its failure surfaces through exec() below
    const results = await transaction.exec();
    if (!results) throw new Error('the Redis transaction was discarded');
    for (const [error] of results) if (error) throw error;
    await added;
    return this.idempotency.parseClaims(results[0][1]);
  }

  private async ensureSerialized(queue: Queue): Promise<void> {
    if (this.serialized.has(queue)) return;
    await queue.setGlobalConcurrency(1);
    this.serialized.add(queue);
  }
}
