import { getQueueToken } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Job, Queue, type QueueOptions } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import {
  allocationJobOptions,
  type AllocationJobData,
  AllocationJobName,
  partitionOf,
  partitionQueueName,
  partitionQueueNames,
  type QueuedRequest,
} from './allocation-queue.contract.js';
import { queueUnavailable } from './queue-unavailable.js';

/**
 * A partition queue as this process holds it. Connection trouble is reported by the shared Redis client's
 * availability log, once per outage: without a listener from birth, BullMQ prints every reconnection failure
 * as a raw stack trace. It shares that client, which RedisModule closes: with Redis away, BullMQ's own close
 * would wait for a connection that may never come, so it closes only while Redis is ready.
 */
export class PartitionQueue extends Queue<AllocationJobData> {
  constructor(name: string, options: QueueOptions) {
    super(name, options);
    this.on('error', () => undefined);
  }

  override async close(): Promise<void> {
    if ((this.opts.connection as { status?: string }).status === 'ready') await super.close();
  }
}

/**
 * The one owner of the partition queues: one BullMQ `Queue` per partition (registered through
 * @nestjs/bullmq, see QueueModule), how a job's data and options are made, and how a job is added. The
 * enrollment API, dead-letter retry, the queue board and the partition workers all go through it, so a
 * partition's queue is one object per process and every job is stored the same way.
 */
@Injectable()
export class AllocationQueues {
  private readonly partitions: number;
  private readonly prefix: string;
  /** Looked up on first use (the partition count comes from configuration, so they are not injected). */
  private loaded?: Queue<AllocationJobData>[];
  /** Queues this process has pinned to global concurrency 1 already. */
  private readonly pinned = new WeakSet<Queue>();

  constructor(
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.partitions = config.allocationPartitions;
    this.prefix = config.queuePrefix;
  }

  private get queues(): Queue<AllocationJobData>[] {
    this.loaded ??= partitionQueueNames(this.partitions).map((name) =>
      this.moduleRef.get<Queue<AllocationJobData>>(getQueueToken(name), { strict: false }),
    );
    return this.loaded;
  }

  /** A course's partition: its requests all go to that partition's queue. */
  partitionOf(courseId: number): number {
    return partitionOf(courseId, this.partitions);
  }

  queue(partition: number): Queue<AllocationJobData> {
    return this.queues[partition];
  }

  get all(): readonly Queue<AllocationJobData>[] {
    return this.queues;
  }

  /**
   * Replaces a partition's queue with a fresh one (a queue whose setup stalled never becomes usable) and
   * closes the old one without waiting: what could not get ready may never finish closing.
   */
  reopen(partition: number): Queue<AllocationJobData> {
    const stale = this.queues[partition];
    const fresh = new PartitionQueue(partitionQueueName(partition), {
      connection: this.redis,
      prefix: this.prefix,
    });
    this.queues[partition] = fresh;
    stale?.close().catch(() => undefined);
    return fresh;
  }

  /**
   * Pins a partition to one job at a time across every worker process, once per queue object: so its
   * requests are decided in queue order, even if this process is the first to touch it.
   */
  async pin(queue: Queue): Promise<void> {
    if (this.pinned.has(queue)) return;
    await queue.setGlobalConcurrency(1);
    this.pinned.add(queue);
  }

  /**
   * A job's data: requests of one priority, in acceptance order. `duplicatesMarked`: the job is added to
   * its partition's jobs-with-duplicates set whenever it carries a request it does not own (see
   * AllocationJobData), so the worker reads claims only for jobs in that set.
   */
  jobData(priority: number, requests: QueuedRequest[]): AllocationJobData {
    return { priority, duplicatesMarked: true, requests };
  }

  /** A job not yet stored, for a caller that adds it inside a transaction of its own (ClaimAndQueue). */
  job(partition: number, data: AllocationJobData, jobId: string): Job<AllocationJobData> {
    return new Job<AllocationJobData>(
      this.queues[partition],
      AllocationJobName.DecideRequests,
      data,
      allocationJobOptions(data.priority),
      jobId,
    );
  }

  /**
   * Adds a job to the tail of its priority in the partition of its requests' course. With Redis away it
   * refuses at once (503): BullMQ would wait for a connection for ever.
   */
  async enqueue(data: AllocationJobData, jobId: string): Promise<void> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    const queue = this.queues[this.partitionOf(data.requests[0].courseId)];
    try {
      await this.pin(queue);
      await queue.add(AllocationJobName.DecideRequests, data, {
        ...allocationJobOptions(data.priority),
        jobId,
      });
    } catch {
      throw queueUnavailable();
    }
  }
}
