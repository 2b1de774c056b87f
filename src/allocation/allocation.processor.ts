import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { messageOf } from '../errors/error-message.js';
import {
  type AllocationJobData,
  partitionOf,
  partitionQueueNames,
  type QueuedRequest,
} from '../queue/allocation-queue.contract.js';
import { EnrollmentMetrics } from '../metrics/enrollment-metrics.service.js';
import { workerConnectionOptions } from '../redis/redis.module.js';
import { AllocationService, DatabaseUnavailableError, describeJob } from './allocation.service.js';
import { requestsOwnedBy } from './job-claims.js';

/** How long a partition pauses when the database keeps failing; its job waits at the head meanwhile. */
const DATABASE_OUTAGE_PAUSE_MS = 2000;
/** How often a worker that could not reach Redis at start tries again. */
const START_RETRY_MS = 500;

/**
 * Glue between BullMQ and AllocationService: one worker per partition queue, started only in worker roles.
 * Each partition queue is pinned to global concurrency 1, so whatever WORKER_CONCURRENCY and however many
 * worker processes there are, a partition has one job in flight and its courses are decided in queue order.
 */
@Injectable()
export class AllocationProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AllocationProcessor.name);
  private workers: Worker<AllocationJobData>[] = [];
  private queues: Queue[] = [];
  private stopping = false;

  constructor(
    @Inject(AllocationService) private readonly allocation: AllocationService,
    @Inject(Redis) private readonly redis: Redis,
    @Inject(EnrollmentMetrics) private readonly metrics: EnrollmentMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Only worker and all roles import AllocationModule. Not awaited: with Redis away at start the process
   * still serves /health and /ready, and starts taking jobs later.
   */
  onApplicationBootstrap(): void {
    this.start().catch((error: unknown) =>
      this.logger.error({ msg: 'allocation workers did not start', err: error }),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /**
   * Creates the partition workers, pins each partition to one job at a time, then starts taking jobs. A
   * worker never takes a job before its partition is pinned, so order holds even if this process is the
   * first to touch the queue; while Redis is away, pinning is retried.
   */
  private async start(): Promise<void> {
    const { queuePrefix: prefix, workerConcurrency, jobLockMs } = this.config;
    for (const name of partitionQueueNames(this.config.allocationPartitions)) {
      const queue = new Queue(name, { connection: this.redis, prefix });
      // Availability is logged once per change by the shared client; these would repeat it per queue.
      queue.on('error', () => undefined);
      const worker = new Worker<AllocationJobData>(name, (job, token) => this.process(queue, job, token), {
        connection: workerConnectionOptions(this.config),
        prefix,
        autorun: false,
        concurrency: workerConcurrency,
        lockDuration: jobLockMs,
        stalledInterval: Math.max(1000, Math.floor(jobLockMs / 2)),
        // A job whose worker died goes back to the head of its queue; only a job that keeps killing
        // workers is set aside (failed) after this many tries.
        maxStalledCount: 5,
        // After a Redis outage, take jobs again within a second (BullMQ waits 15 s by default).
        runRetryDelay: 1000,
      });
      worker.on('error', (error) => {
        if (this.redis.status === 'ready') this.logger.warn(`${name}: ${error.message}`);
      });
      this.queues.push(queue);
      this.workers.push(worker);
    }
    for (const queue of this.queues) {
      while (!this.stopping && !(await this.pinned(queue))) await sleep(START_RETRY_MS);
    }
    if (this.stopping) return;
    for (const worker of this.workers) {
      worker.run().catch((error: unknown) => this.logger.error({ msg: 'worker stopped', err: error }));
    }
    this.logger.log(
      `allocating from ${this.workers.length} partition queues, concurrency ${workerConcurrency}`,
    );
  }

  /** Pins a partition to one job at a time; false while Redis cannot be reached (BullMQ would wait for ever). */
  private async pinned(queue: Queue): Promise<boolean> {
    if (this.redis.status !== 'ready') return false;
    const timeout = sleep(START_RETRY_MS * 4).then(() => false);
    return Promise.race([
      queue.setGlobalConcurrency(1).then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  }

  /**
   * Stops taking jobs and waits for the running ones to commit. With Redis away a running job cannot be
   * completed anyway, so the workers close at once: its job stays active in Redis and is handed out again
   * when its lock expires, and PostgreSQL decides its requests once.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const force = this.redis.status !== 'ready';
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((worker) => worker.close(force)));
    // The queues share the process's Redis client, so closing them sends nothing (RedisModule closes it).
    await Promise.all(this.queues.map((queue) => queue.close()));
    this.queues = [];
  }

  private async process(queue: Queue, job: Job<AllocationJobData>, token?: string) {
    let requests: QueuedRequest[];
    try {
      const { requests: carried } = job.data;
      const partition = partitionOf(carried[0]?.courseId ?? 0, this.config.allocationPartitions);
      requests = await requestsOwnedBy(this.redis, this.config.queuePrefix, partition, job.id, carried);
    } catch (error) {
      // Redis trouble: the job goes back to the wait list untouched (or, if Redis is gone, its lock expires
      // and it is handed out again).
      this.logger.warn(`job ${job.id} back to the queue: claims unreadable (${messageOf(error)})`);
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
        error: messageOf(error),
        idempotency_keys: requests.map((request) => request.idempotencyKey),
      });
      throw new UnrecoverableError(messageOf(error));
    }
  }
}
