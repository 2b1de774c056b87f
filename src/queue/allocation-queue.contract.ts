import { createHash } from 'node:crypto';
import { partitionTag } from '../redis/redis-keys.js';

// The contract between the API (which queues requests) and the workers (which decide them): what a job is,
// which queue it goes to, and what the API records for each request it accepts.

/** A course's partition: its requests all go to that partition's queue. */
export const partitionOf = (courseId: number, partitions: number): number => courseId % partitions;

/** BullMQ keys are `<prefix>:<queue name>:...`, so the partition's hash tag in the name tags every key. */
export const partitionQueueName = (partition: number): string => `allocation-${partitionTag(partition)}`;

export const partitionQueueNames = (partitions: number): string[] =>
  Array.from({ length: partitions }, (_, partition) => partitionQueueName(partition));

/**
 * The arbitration queue. A course's requests all go to one partition queue, and each partition queue runs
 * one job at a time across every worker process (BullMQ global concurrency 1), so a course's requests are
 * decided in the order BullMQ hands them out, while different partitions are decided in parallel.
 */
export enum AllocationJobName {
  DecideRequests = 'decide-requests',
}

export interface QueuedRequest {
  idempotencyKey: string;
  studentId: string;
  courseId: number;
  requestedAt: string;
  /** A swap (contract v3): the request of the same student this one replaces if it gets its seat. */
  swapFor?: string;
}

/**
 * One job carries requests of one priority for courses of one partition, in the order they were accepted;
 * a hot course fills a job on its own, spread traffic shares jobs between the partition's courses.
 */
export interface AllocationJobData {
  priority: number;
  requests: QueuedRequest[];
  /**
   * Stored by an API that adds a job carrying a duplicate to the partition's jobs-with-duplicates set:
   * a job so marked that is not in the set owns all its requests, and the worker skips reading their claims.
   * A job without it (stored by an older API) has every claim read.
   */
  duplicatesMarked?: true;
}

/**
 * BullMQ serves the lowest number first, and a job without priority (0) skips the prioritized set and
 * runs before every prioritized job; so request priority 100..0 becomes BullMQ priority 1..101.
 */
export const bullPriorityOf = (priority: number): number => 101 - priority;

/**
 * How every allocation job is stored. Order must survive failures, so retries happen inside the worker,
 * never by BullMQ re-queueing the job; a request that cannot be decided becomes a dead letter instead.
 */
export const allocationJobOptions = (priority: number) => ({
  priority: bullPriorityOf(priority),
  attempts: 1,
  removeOnComplete: true,
  removeOnFail: false,
});

/** Derived from the idempotency key (hashed: BullMQ ids may not contain ':'), so duplicates collapse. */
export const jobIdFor = (idempotencyKey: string): string =>
  `req-${createHash('sha256').update(idempotencyKey).digest('base64url')}`;

/** A batch's job id, derived from the idempotency keys it carries, in order. */
export const batchJobIdFor = (idempotencyKeys: readonly string[]): string =>
  idempotencyKeys.length === 1
    ? jobIdFor(idempotencyKeys[0])
    : `batch-${createHash('sha256').update(idempotencyKeys.join('\n')).digest('base64url')}`;

/**
 * What the API records in Redis (the key's claim) when it accepts a request; a replay is compared with it,
 * and the worker reads jobId to know which job is to decide the request.
 */
export interface AcceptedRequest {
  studentId: string;
  courseId: number;
  priority: number;
  requestedAt: string;
  /** A swap (contract v3): the request of the same student this one replaces if it gets its seat. */
  swapFor?: string;
  /** The queue job that carries the request; written in the same transaction as that job. */
  jobId?: string;
}

/**
 * A draw entry (contract v3, Fair opening) as the API records it in its course's entries and the draw
 * stores it in draw order: what anyone needs to recompute its place.
 */
export interface DrawnEntry {
  idempotencyKey: string;
  studentId: string;
  priority: number;
  requestedAt: string;
  swapFor?: string;
}
