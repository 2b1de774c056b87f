import { createHash } from 'node:crypto';
import { getQueueToken } from '@nestjs/bullmq';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ModuleRef } from '@nestjs/core';
import type { Queue } from 'bullmq';
import { type AppConfig, CONFIG_NAMESPACE } from '../config/app-config.js';
import { type AcceptedRequest, IdempotencyStore } from './idempotency.store.js';

/**
 * The arbitration queue. A course's requests all go to one partition queue, and each partition queue runs
 * one job at a time across every worker process (BullMQ global concurrency 1), so a course's requests are
 * decided in the order BullMQ hands them out, while different partitions are decided in parallel.
 */
export const partitionQueueName = (partition: number): string => `allocation-${partition}`;

export const partitionQueueNames = (partitions: number): string[] =>
  Array.from({ length: partitions }, (_, partition) => partitionQueueName(partition));

export const partitionOf = (courseId: number, partitions: number): number => courseId % partitions;

export enum AllocationJobName {
  DecideRequests = 'decide-requests',
}

export interface QueuedRequest {
  idempotencyKey: string;
  studentId: string;
  courseId: number;
  requestedAt: string;
}

/**
 * One job carries requests of one priority for courses of one partition, in the order they were accepted;
 * a hot course fills a job on its own, spread traffic shares jobs between the partition's courses.
 */
export interface AllocationJobData {
  priority: number;
  requests: QueuedRequest[];
}

/**
 * BullMQ serves the lowest number first, and a job without priority (0) skips the prioritized set and
 * runs before every prioritized job; so request priority 100..0 becomes BullMQ priority 1..101.
 */
export const bullPriorityOf = (priority: number): number => 101 - priority;

/** Derived from the idempotency key (hashed: BullMQ ids may not contain ':'), so duplicates collapse. */
export const jobIdFor = (idempotencyKey: string): string =>
  `req-${createHash('sha256').update(idempotencyKey).digest('base64url')}`;

/** A batch's job id, derived from the idempotency keys it carries, in order. */
export const batchJobIdFor = (idempotencyKeys: readonly string[]): string =>
  idempotencyKeys.length === 1
    ? jobIdFor(idempotencyKeys[0])
    : `batch-${createHash('sha256').update(idempotencyKeys.join('\n')).digest('base64url')}`;

interface WaitingRequest {
  key: string;
  request: AcceptedRequest;
  /** Settles with null once the request is queued, or with the request that already holds its key. */
  settle: (holder: AcceptedRequest | null) => void;
  fail: (error: unknown) => void;
}

/** Requests of one (partition, priority) waiting for the job in flight before them to be stored. */
interface Lane {
  waiting: WaitingRequest[];
  flushing: boolean;
}

/**
 * The producer. Requests are group-committed per (partition, priority): a lone request is queued at once;
 * while a job for its lane is being stored, later requests gather and go together in the next job, up to
 * ALLOCATION_BATCH_MAX. A lane stores one job at a time, so jobs keep the order requests were accepted in
 * (a course's requests of one priority always share a lane), and a stampede costs two Redis round trips per
 * batch instead of two per request, and the workers one transaction per batch.
 */
@Injectable()
export class EnrollmentQueue implements OnModuleInit {
  private readonly partitions: number;
  private readonly batchMax: number;
  private queues: Queue[] = [];
  private readonly lanes = new Map<string, Lane>();
  /** Partition queues this process has already pinned to global concurrency 1. */
  private readonly serialized = new Set<Queue>();

  constructor(
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(IdempotencyStore) private readonly idempotency: IdempotencyStore,
    @Inject(ConfigService) config: ConfigService,
  ) {
    const app = config.getOrThrow<AppConfig>(CONFIG_NAMESPACE);
    this.partitions = app.allocationPartitions;
    this.batchMax = app.allocationBatchMax;
  }

  onModuleInit(): void {
    // The partition count comes from configuration, so the queues are looked up by name, not injected.
    this.queues = partitionQueueNames(this.partitions).map((name) => {
      const queue = this.moduleRef.get<Queue>(getQueueToken(name), { strict: false });
      // Connection trouble is reported by the shared Redis client and by /ready; an unhandled 'error'
      // event here would only repeat it once per queue.
      queue.on('error', () => undefined);
      return queue;
    });
  }

  queueFor(courseId: number): Queue {
    return this.queues[partitionOf(courseId, this.partitions)];
  }

  /**
   * Claims the key and queues the request. Resolves with null once the job holding it is stored in Redis,
   * or with the request that already holds the key (nothing queued then).
   */
  accept(key: string, request: AcceptedRequest): Promise<AcceptedRequest | null> {
    return new Promise((settle, fail) => {
      const laneKey = `${partitionOf(request.course_id, this.partitions)}:${request.priority}`;
      let lane = this.lanes.get(laneKey);
      if (!lane) {
        lane = { waiting: [], flushing: false };
        this.lanes.set(laneKey, lane);
      }
      lane.waiting.push({ key, request, settle, fail });
      if (!lane.flushing) void this.drain(laneKey, lane);
    });
  }

  /** Queues, on its own, a claimed request whose job was never stored (its process died in between). */
  async requeue(key: string, request: AcceptedRequest): Promise<void> {
    await this.addJob(jobIdFor(key), [{ key, request }]);
  }

  /** Whether the job that carries a claimed request is still in the queue (waiting or running). */
  async holds(request: AcceptedRequest): Promise<boolean> {
    return (
      request.job_id !== undefined &&
      (await this.queueFor(request.course_id).getJob(request.job_id)) !== undefined
    );
  }

  private async drain(laneKey: string, lane: Lane): Promise<void> {
    lane.flushing = true;
    while (lane.waiting.length > 0) {
      await this.flush(lane.waiting.splice(0, this.batchMax));
    }
    lane.flushing = false;
    this.lanes.delete(laneKey);
  }

  /** One batch: claim every key in one pipeline, then store one job for the claimed ones. Never throws. */
  private async flush(batch: WaitingRequest[]): Promise<void> {
    const jobId = batchJobIdFor(batch.map(({ key }) => key));
    let holders: Array<AcceptedRequest | null>;
    try {
      holders = await this.idempotency.claimAll(
        batch.map(({ key, request }) => ({ key, request: { ...request, job_id: jobId } })),
      );
    } catch (error) {
      for (const waiting of batch) waiting.fail(error);
      return;
    }
    const claimed = batch.filter((waiting, index) => {
      const holder = holders[index];
      if (holder) waiting.settle(holder);
      return holder === null;
    });
    if (claimed.length === 0) return;
    try {
      await this.addJob(jobId, claimed);
    } catch (error) {
      // Nothing half-written: give the keys back so the clients' retries are fresh requests.
      await this.idempotency.releaseAll(claimed).catch(() => undefined);
      for (const waiting of claimed) waiting.fail(error);
      return;
    }
    for (const waiting of claimed) waiting.settle(null);
  }

  /** Stores one job for requests of one lane (same partition, same priority), in their order. */
  private async addJob(
    jobId: string,
    requests: Array<{ key: string; request: AcceptedRequest }>,
  ): Promise<void> {
    const { course_id: courseId, priority } = requests[0].request;
    const queue = this.queueFor(courseId);
    await this.ensureSerialized(queue);
    const data: AllocationJobData = {
      priority,
      requests: requests.map(({ key, request }) => ({
        idempotencyKey: key,
        studentId: request.student_id,
        courseId: request.course_id,
        requestedAt: request.requested_at,
      })),
    };
    await queue.add(AllocationJobName.DecideRequests, data, {
      jobId,
      priority: bullPriorityOf(priority),
      // Order must survive failures, so retries happen inside the worker, never by re-queueing the job.
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: false,
    });
  }

  private async ensureSerialized(queue: Queue): Promise<void> {
    if (this.serialized.has(queue)) return;
    await queue.setGlobalConcurrency(1);
    this.serialized.add(queue);
  }
}
