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
} from '../queue/allocation-queue.contract.js';
import { EnrollmentMetrics } from '../metrics/enrollment-metrics.service.js';
import { workerConnectionOptions } from '../redis/redis.module.js';
import {
  type AllocationDecision,
  AllocationService,
  DatabaseUnavailableError,
  describeRequests,
} from './allocation.service.js';
import { requestsOwnedBy } from './job-claims.js';
import { peekWaitingJobs, removeWaitingJobs, type WaitingJob } from './waiting-jobs.js';

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

  /**
   * Decides the active job together with the jobs waiting behind it in its partition (up to
   * DECISION_BATCH_MAX requests) in one transaction, then removes those followers. A crash between the
   * commit and the removal hands the followers out again, and their requests, decided already, are skipped.
   */
  private async process(queue: Queue, job: Job<AllocationJobData>, token?: string) {
    const partition = partitionOf(job.data.requests[0]?.courseId ?? 0, this.config.allocationPartitions);
    let batch: AllocationJobData[];
    let followers: WaitingJob[];
    try {
      followers = await peekWaitingJobs(
        this.redis,
        queue,
        this.config.decisionBatchMax - job.data.requests.length,
      );
      batch = await requestsOwnedBy(this.redis, this.config.queuePrefix, partition, [
        { id: job.id, data: job.data },
        ...followers,
      ]);
    } catch (error) {
      // Redis trouble: the job goes back to the wait list untouched (or, if Redis is gone, its lock expires
      // and it is handed out again).
      this.logger.warn(`job ${job.id} back to the queue: queue unreadable (${messageOf(error)})`);
      throw Worker.RateLimitError();
    }
    const started = Date.now();
    let decisions: AllocationDecision[];
    let decidedFollowers: WaitingJob[];
    try {
      ({ decisions, decidedFollowers } = await this.decideBatch(job, batch, followers));
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) {
        // Put the job back in front of its priority and pause the partition, rather than failing it:
        // a retry through BullMQ's delayed set would let later requests overtake it.
        this.logger.warn(
          `job ${job.id} (${describeRequests(batch[0].requests)}) back to the head: ${error.message}`,
        );
        await queue.rateLimit(DATABASE_OUTAGE_PAUSE_MS).catch(() => undefined);
        throw Worker.RateLimitError();
      }
      this.logger.error({
        msg: 'job failed',
        job_id: job.id,
        token,
        error: messageOf(error),
        idempotency_keys: batch[0].requests.map((request) => request.idempotencyKey),
      });
      throw new UnrecoverableError(messageOf(error));
    }
    await removeWaitingJobs(
      this.redis,
      queue,
      decidedFollowers.map((follower) => follower.id),
    ).catch((error: unknown) =>
      // Harmless: they are handed out again, and decide nothing twice.
      this.logger.warn(`${decidedFollowers.length} decided job(s) left in the queue: ${messageOf(error)}`),
    );
    this.report(job, batch, decisions, Date.now() - started);
    return decisions.length;
  }

  /**
   * The whole batch in one transaction. If it fails for a reason other than an outage, the active job is
   * tried alone: a follower that cannot be decided then fails only when its own turn comes, and never takes
   * the jobs ahead of it down with it.
   */
  private async decideBatch(
    job: Job<AllocationJobData>,
    batch: AllocationJobData[],
    followers: WaitingJob[],
  ): Promise<{ decisions: AllocationDecision[]; decidedFollowers: WaitingJob[] }> {
    if (followers.length === 0)
      return { decisions: await this.allocation.decide(batch[0]), decidedFollowers: [] };
    try {
      return { decisions: await this.allocation.decide(...batch), decidedFollowers: followers };
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) throw error;
      this.logger.warn(
        `job ${job.id}: a batch of ${batch.length} jobs failed (${messageOf(error)}); deciding the job alone`,
      );
      return { decisions: await this.allocation.decide(batch[0]), decidedFollowers: [] };
    }
  }

  /** One info line per batch (the per-request audit is the decisions table); per request at debug level. */
  private report(job: Job, batch: AllocationJobData[], decisions: AllocationDecision[], ms: number): void {
    const decidedAt = new Date();
    const counts = { enrolled: 0, waitlisted: 0, rejected: 0 };
    for (const decision of decisions) {
      counts[decision.status] += 1;
      this.metrics.decided(decision.status, new Date(decision.requestedAt), decidedAt);
    }
    this.metrics.batch(decisions.length);
    if (decisions.length > 0) {
      this.logger.log({
        msg: 'decided batch',
        job_id: job.id,
        jobs: batch.length,
        decisions: decisions.length,
        ...counts,
        ms,
      });
    }
    if (this.config.logLevel !== 'debug' && this.config.logLevel !== 'trace') return;
    for (const decision of decisions) {
      this.logger.debug({
        msg: 'decided',
        idempotency_key: decision.idempotencyKey,
        course_id: decision.courseId,
        status: decision.status,
        reason: decision.reason,
        waitlist_position: decision.waitlistPosition,
      });
    }
  }
}
