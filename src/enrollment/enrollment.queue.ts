import { createHash } from 'node:crypto';
import { getQueueToken } from '@nestjs/bullmq';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ModuleRef } from '@nestjs/core';
import type { Queue } from 'bullmq';
import { type AppConfig, CONFIG_NAMESPACE } from '../config/app-config.js';

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
  requestedAt: string;
}

/** One job carries requests of one course and one priority, in the order they were accepted. */
export interface AllocationJobData {
  courseId: number;
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

@Injectable()
export class EnrollmentQueue implements OnModuleInit {
  private readonly partitions: number;
  private queues: Queue[] = [];
  /** Partition queues this process has already pinned to global concurrency 1. */
  private readonly serialized = new Set<Queue>();

  constructor(
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(ConfigService) config: ConfigService,
  ) {
    this.partitions = config.getOrThrow<AppConfig>(CONFIG_NAMESPACE).allocationPartitions;
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

  /** Puts one accepted request on its course's partition queue; resolves once Redis has stored the job. */
  async add(courseId: number, priority: number, request: QueuedRequest): Promise<void> {
    const queue = this.queueFor(courseId);
    await this.ensureSerialized(queue);
    const data: AllocationJobData = { courseId, priority, requests: [request] };
    await queue.add(AllocationJobName.DecideRequests, data, {
      jobId: jobIdFor(request.idempotencyKey),
      priority: bullPriorityOf(priority),
      // Order must survive failures, so retries happen inside the worker, never by re-queueing the job.
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: false,
    });
  }

  async has(courseId: number, idempotencyKey: string): Promise<boolean> {
    return (await this.queueFor(courseId).getJob(jobIdFor(idempotencyKey))) !== undefined;
  }

  /** Requests waiting (not yet taken by a worker) in every partition queue. */
  async depth(): Promise<number> {
    const counts = await Promise.all(this.queues.map((queue) => queue.getWaitingCount()));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  private async ensureSerialized(queue: Queue): Promise<void> {
    if (this.serialized.has(queue)) return;
    await queue.setGlobalConcurrency(1);
    this.serialized.add(queue);
  }
}
