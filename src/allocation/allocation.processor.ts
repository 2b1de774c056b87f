import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { type AppConfig, CONFIG_NAMESPACE } from '../config/app-config.js';
import { type AllocationJobData, type QueuedRequest } from '../enrollment/enrollment.queue.js';
import { readClaims } from '../enrollment/idempotency.store.js';
import { partitionOf, partitionQueueNames } from '../enrollment/partition-keys.js';
import { EnrollmentMetrics } from '../metrics/enrollment-metrics.js';
import { AllocationService, DatabaseUnavailableError, describeJob } from './allocation.service.js';

/** How long a partition pauses when the database keeps failing; its job waits at the head meanwhile. */
const DATABASE_OUTAGE_PAUSE_MS = 2000;

/**
 * Glue between BullMQ and AllocationService: one worker per partition queue, started only in worker roles.
 * Each partition queue is pinned to global concurrency 1, so whatever WORKER_CONCURRENCY and however many
 * worker processes there are, a partition has one job in flight and its courses are decided in queue order.
 */
@Injectable()
export class AllocationProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Allocation');
  private readonly config: AppConfig;
  private workers: Worker<AllocationJobData>[] = [];
  private queues: Queue[] = [];

  constructor(
    @Inject(AllocationService) private readonly allocation: AllocationService,
    @Inject(Redis) private readonly redis: Redis,
    @Inject(EnrollmentMetrics) private readonly metrics: EnrollmentMetrics,
    @Inject(ConfigService) config: ConfigService,
  ) {
    this.config = config.getOrThrow<AppConfig>(CONFIG_NAMESPACE);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.role === 'api') return;
    await this.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /** Starts taking jobs (also used by tests that start workers after filling the queue). */
  async start(): Promise<void> {
    const { queuePrefix: prefix, redis, workerConcurrency, jobLockMs } = this.config;
    for (const name of partitionQueueNames(this.config.allocationPartitions)) {
      const queue = new Queue(name, { connection: this.redis, prefix });
      await queue.setGlobalConcurrency(1);
      const worker = new Worker<AllocationJobData>(name, (job, token) => this.process(queue, job, token), {
        connection: { host: redis.host, port: redis.port, maxRetriesPerRequest: null },
        prefix,
        concurrency: workerConcurrency,
        lockDuration: jobLockMs,
        stalledInterval: Math.max(1000, Math.floor(jobLockMs / 2)),
        // A job whose worker died goes back to the head of its queue; only a job that keeps killing
        // workers is set aside (failed) after this many tries.
        maxStalledCount: 5,
      });
      worker.on('error', (error) => this.logger.warn(`${name}: ${error.message}`));
      this.queues.push(queue);
      this.workers.push(worker);
    }
    this.logger.log(
      `allocating from ${this.workers.length} partition queues, concurrency ${workerConcurrency}`,
    );
  }

  /** Stops taking jobs and waits for the running ones to commit. */
  async stop(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((worker) => worker.close()));
    await Promise.all(this.queues.map((queue) => queue.close()));
    this.queues = [];
  }

  private async process(queue: Queue, job: Job<AllocationJobData>, token?: string) {
    let requests: QueuedRequest[];
    try {
      requests = await this.requestsOwnedBy(job);
    } catch (error) {
      // Redis trouble: the job goes back to the wait list untouched (or, if Redis is gone, its lock expires
      // and it is handed out again).
      this.logger.warn(`job ${job.id} back to the queue: claims unreadable (${String(error)})`);
      throw Worker.RateLimitError();
    }
    try {
      const decisions = await this.allocation.decide({ ...job.data, requests });
      const decidedAt = new Date();
      for (const decision of decisions) {
        this.metrics.decided(decision.status, new Date(decision.requestedAt), decidedAt);
        this.logger.log({
          msg: 'decided',
          idempotency_key: decision.idempotencyKey,
          course_id: decision.courseId,
          status: decision.status,
          reason: decision.reason,
          waitlist_position: decision.waitlistPosition,
        });
      }
      return decisions.length;
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) {
        // Put the job back in front of its priority and pause the partition, rather than failing it:
        // a retry through BullMQ's delayed set would let later requests overtake it.
        this.logger.warn(`job ${job.id} (${describeJob(job.data)}) back to the head: ${error.message}`);
        await queue.rateLimit(DATABASE_OUTAGE_PAUSE_MS).catch(() => undefined);
        throw Worker.RateLimitError();
      }
      this.logger.error({
        msg: 'job failed',
        job_id: job.id,
        token,
        error: String(error),
        idempotency_keys: requests.map((request) => request.idempotencyKey),
      });
      throw new UnrecoverableError(error instanceof Error ? error.message : String(error));
    }
  }

  /**
   * The job's requests whose claims name this job, each key once. A request also carried by another job
   * (a duplicate sent while its key was being claimed) is decided by the job its claim names. A request
   * whose claim is gone (expired, or Redis lost it) is decided here: PostgreSQL decides a key once anyway.
   */
  private async requestsOwnedBy(job: Job<AllocationJobData>): Promise<QueuedRequest[]> {
    const { requests } = job.data;
    if (requests.length === 0) return [];
    const partition = partitionOf(requests[0].courseId, this.config.allocationPartitions);
    const claims = await readClaims(
      this.redis,
      this.config.queuePrefix,
      partition,
      requests.map((request) => request.idempotencyKey),
    );
    const seen = new Set<string>();
    return requests.filter((request, index) => {
      const claim = claims[index];
      const owned =
        !seen.has(request.idempotencyKey) &&
        (claim === null ||
          (claim.job_id === job.id &&
            claim.student_id === request.studentId &&
            claim.course_id === request.courseId));
      if (owned) seen.add(request.idempotencyKey);
      return owned;
    });
  }
}
