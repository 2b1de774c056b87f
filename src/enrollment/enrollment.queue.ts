import { getQueueToken } from '@nestjs/bullmq';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Job, type Queue } from 'bullmq';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { masterOf, REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { claimKey } from '../redis/redis-keys.js';
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
  private readonly redisConfig: AppConfig['redis'];
  private readonly queuePrefix: string;
  private queues: Queue[] = [];
  /** Lanes are (partition, priority): a course's requests of one priority always share one. */
  private readonly commits: GroupCommit<Submitted, AcceptedRequest | null>;
  /** Partition queues this process has already pinned to global concurrency 1. */
  private readonly serialized = new Set<Queue>();

  constructor(
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(IdempotencyStore) private readonly idempotency: IdempotencyStore,
    @Inject(DecisionsService) private readonly decisions: DecisionsService,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.partitions = config.allocationPartitions;
    this.redisConfig = config.redis;
    this.queuePrefix = config.queuePrefix;
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
    const client = (await queue.backend.client) as unknown as RedisClient;
    const transaction = this.idempotency.multi(client);
    const job = new Job<AllocationJobData>(
      queue,
      AllocationJobName.DecideRequests,
      data,
      allocationJobOptions(priority),
      jobId,
    );
    const added = job.addJob(transaction as never);
    added.catch(() => undefined); // its failure surfaces through exec() below
    // After the job: the claim script claims nothing unless the job is there (see CLAIM_SCRIPT).
    this.idempotency.claimIn(
      transaction,
      partition,
      { id: jobId, key: queue.toKey(jobId) },
      batch.map(({ key, request }) => ({ key, request: { ...request, jobId } })),
    );
    const results = await transaction.exec();
    if (!results) throw new Error('the Redis transaction was discarded');
    const anyKey = claimKey(this.queuePrefix, partition, batch[0].key);
    const failed = results.find(([error]) => error)?.[0];
    if (failed) {
      if (results.some(([error]) => error && /NOSCRIPT/.test(error.message))) {
        await this.reloadScripts(anyKey).catch(() => undefined);
      }
      throw failed;
    }
    await added;
    await this.replicated(anyKey);
    return this.idempotency.parseClaims(results[results.length - 1][1]);
  }

  /**
   * A Cluster node promoted from replica lacks the scripts the old master had, while the client's connection
   * to it still counts them as sent, so every transaction would fail with NOSCRIPT (outside a transaction
   * ioredis sends the script again itself). Load the missing ones on that master; the client's retry
   * succeeds.
   */
  private async reloadScripts(anyKeyOfThePartition: string): Promise<void> {
    const master = masterOf(this.redis, anyKeyOfThePartition);
    const scripts = Object.values(
      (this.redis as unknown as { scriptsSet: Record<string, { lua: string; sha: string }> }).scriptsSet,
    );
    const present = (await master.script('EXISTS', ...scripts.map(({ sha }) => sha))) as number[];
    await Promise.all(
      scripts.filter((_, index) => present[index] === 0).map(({ lua }) => master.script('LOAD', lua)),
    );
  }

  /**
   * With REDIS_WAIT_REPLICAS, a batch is answered only once that many replicas of its partition's master
   * hold its claims and job (WAIT counts the replicas that have every write this connection sent so far;
   * the queue's client is this shared one).
   * Redis replicates asynchronously: without it, a master that dies before replicating takes requests it
   * acknowledged with it. Short of replicas in time, the batch is answered 503: its requests are stored,
   * so the client's retry with the same key learns their state (200), or is accepted anew (202) if the
   * master was lost.
   */
  private async replicated(anyKeyOfThePartition: string): Promise<void> {
    const { waitReplicas, waitTimeoutMs } = this.redisConfig;
    if (waitReplicas === 0) return;
    // Sent as soon as EXEC answers, to the master the client knows for the slot, which is where the MULTI
    // went unless a failover completed in between. A master that turned replica meanwhile refuses WAIT:
    // not confirmed either.
    const acknowledged = await Promise.resolve()
      .then(() => masterOf(this.redis, anyKeyOfThePartition).wait(waitReplicas, waitTimeoutMs))
      .catch(() => 0);
    if (acknowledged < waitReplicas) {
      throw new DomainError(
        DomainErrorCode.QueueUnavailable,
        `the request is stored, but ${acknowledged} of ${waitReplicas} Redis replicas confirmed it in time; ` +
          'send it again with the same idempotency key',
      );
    }
  }

  private async ensureSerialized(queue: Queue): Promise<void> {
    if (this.serialized.has(queue)) return;
    await queue.setGlobalConcurrency(1);
    this.serialized.add(queue);
  }
}
