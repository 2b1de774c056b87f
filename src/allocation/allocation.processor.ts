import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { createRedisClient, REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { messageOf } from '../errors/error-message.js';
import {
  type AllocationJobData,
  partitionOf,
  partitionQueueNames,
} from '../queue/allocation-queue.contract.js';
import { EnrollmentMetrics } from '../metrics/enrollment-metrics.service.js';
import {
  type AllocationDecision,
  AllocationService,
  DatabaseUnavailableError,
  describeRequests,
} from './allocation.service.js';
import { DeadLetterStore } from '../dead-letters/dead-letter.store.js';
import { type OwnedJob, type ReadOptions, readPartitionJobs, removeWaitingJobs } from './waiting-jobs.js';

/** A committed transaction: the jobs it decided (active job first, if it was one) and its decisions. */
interface BatchOutcome {
  jobs: OwnedJob[];
  decisions: AllocationDecision[];
}

/** How long a partition pauses when the database keeps failing; its job waits at the head meanwhile. */
const DATABASE_OUTAGE_PAUSE_MS = 2000;
/**
 * How long one active job may go on deciding the jobs behind it before it hands its partition back to
 * BullMQ (which then hands out the next job, to this worker or another).
 */
const DRAIN_BUDGET_MS = 1000;
/** Pause before trying a failing request again (doubled each try) before it becomes a dead letter. */
const DEAD_LETTER_BACKOFF_MS = 200;
/** How often the watchdog looks at each partition, and how many looks with nothing taken make it act. */
const WATCHDOG_MS = 5000;
const STUCK_CHECKS = 3;
/** How often a worker that could not reach Redis at start tries again. */
const START_RETRY_MS = 500;
/** Tries to pin a partition, refused with Redis ready, before its queue is opened again (each waits up to 2 s). */
const PIN_TRIES_BEFORE_REOPENING = 5;
/** Tries to pin a partition while Redis is not ready between two warnings (about 20 s). */
const PIN_TRIES_BEFORE_WARNING = 40;

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
  private failures: QueueEvents[] = [];
  /** This process's jobs being decided, per partition queue (the watchdog leaves those partitions alone). */
  private readonly deciding = new Map<Queue, number>();
  /** Per partition queue, what the watchdog last saw waiting and for how many checks in a row. */
  private readonly stuck = new Map<Queue, { state: string; checks: number }>();
  private watchdog?: NodeJS.Timeout;
  /**
   * The workers' and failure listeners' connection (no timeouts, unlimited retries, as BullMQ requires of
   * them); BullMQ duplicates it for each blocking command, and leaves it to us to close.
   */
  private workerConnection?: RedisClient;
  private stopping = false;

  constructor(
    @Inject(AllocationService) private readonly allocation: AllocationService,
    @Inject(DeadLetterStore) private readonly deadLetters: DeadLetterStore,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
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
    const { workerConcurrency } = this.config;
    const names = partitionQueueNames(this.config.allocationPartitions);
    for (const name of names) this.openPartition(name);
    for (const [index, name] of names.entries()) {
      let refused = 0;
      for (let tries = 1; !this.stopping && !(await this.pinned(this.queues[index])); tries += 1) {
        // Refused while the shared client says it is ready: a queue whose setup stalled would never pin, and
        // the workers (and the watchdog) would never start. A fresh-clone CI run once saw a worker on a
        // Redis Cluster decide nothing from its start, without a log line; this is the likeliest cause.
        if (this.redis.status === 'ready' && ++refused % PIN_TRIES_BEFORE_REOPENING === 0) {
          this.logger.warn(`${name}: not pinned after ${refused} tries; opening the partition's queue again`);
          this.openPartition(name, index);
        } else if (tries % PIN_TRIES_BEFORE_WARNING === 0) {
          this.logger.warn({
            msg: `${name}: not pinned yet; waiting for Redis`,
            redis_status: this.redis.status,
          });
        }
        await sleep(START_RETRY_MS);
      }
    }
    if (this.stopping) return;
    // Jobs that failed while no worker was listening (bounded: this must not keep the workers from starting).
    for (const queue of this.queues) {
      const failed = await Promise.race([
        queue.getFailed().catch(() => []),
        sleep(START_RETRY_MS * 4).then(() => []),
      ]);
      for (const job of failed) await this.setAsideFailedJob(queue, job.id!, job.failedReason);
    }
    for (const worker of this.workers) {
      worker.run().catch((error: unknown) => this.logger.error({ msg: 'worker stopped', err: error }));
    }
    this.watchdog = setInterval(() => void this.watchPartitions(), WATCHDOG_MS);
    this.logger.log(
      `allocating from ${this.workers.length} partition queues, concurrency ${workerConcurrency}`,
    );
  }

  /**
   * A partition's queue, its worker (not running yet) and its failure listener, at `index` (replacing
   * what is there, which is closed without waiting) or appended.
   */
  private openPartition(name: string, index = this.queues.length): void {
    const { queuePrefix: prefix } = this.config;
    const replaced = {
      queue: this.queues[index],
      worker: this.workers[index],
      failures: this.failures[index],
    };
    const queue = new Queue(name, { connection: this.redis, prefix });
    // Availability is logged once per change by the shared client; these would repeat it per queue.
    queue.on('error', () => undefined);
    // A job that fails anyway (it stalled, killing its worker, more than maxStalledCount times; or even
    // setting a request aside failed) leaves its requests as dead letters, whichever worker hears of it.
    const failures = new QueueEvents(name, { connection: this.blockingConnection(), prefix });
    failures.on('error', () => undefined);
    failures.on(
      'failed',
      ({ jobId, failedReason }) => void this.setAsideFailedJob(queue, jobId, failedReason),
    );
    this.queues[index] = queue;
    this.workers[index] = this.newWorker(queue);
    this.failures[index] = failures;
    // Not awaited: what could not get ready may never finish closing.
    for (const closing of [replaced.worker, replaced.failures, replaced.queue])
      closing?.close().catch(() => undefined);
  }

  private blockingConnection(): RedisClient {
    if (!this.workerConnection) {
      this.workerConnection = createRedisClient(this.config.redis, 'blocking');
      // Availability is logged once per change by the shared client.
      this.workerConnection.on('error', () => undefined);
    }
    return this.workerConnection;
  }

  private newWorker(queue: Queue): Worker<AllocationJobData> {
    const { queuePrefix: prefix, workerConcurrency, jobLockMs } = this.config;
    const worker = new Worker<AllocationJobData>(
      queue.name,
      (job, token) => this.process(queue, job, token),
      {
        connection: this.blockingConnection(),
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
      },
    );
    worker.on('error', (error) => {
      if (this.redis.status === 'ready') this.logger.warn(`${queue.name}: ${error.message}`);
    });
    return worker;
  }

  /**
   * The watchdog: a partition whose jobs wait while none is taken, by any process, for STUCK_CHECKS checks
   * in a row gets this process's worker replaced, unless that worker is deciding one of them. Seen on a
   * Redis Cluster after failovers: a partition's blocking connection never woke up again, and its
   * requests waited for ever. A fresh worker has a fresh connection, and moves a job whose lock was lost
   * back to the queue at once.
   */
  private async watchPartitions(): Promise<void> {
    for (const [index, queue] of this.queues.entries()) {
      if (this.stopping) return;
      const seen = await this.waitingState(queue).catch(() => null);
      const busy = (this.deciding.get(queue) ?? 0) > 0;
      const previous = this.stuck.get(queue);
      if (seen === null || busy || seen === 'idle' || previous?.state !== seen) {
        this.stuck.set(queue, { state: seen ?? 'idle', checks: 1 });
        continue;
      }
      previous.checks += 1;
      if (previous.checks < STUCK_CHECKS) continue;
      this.stuck.delete(queue);
      this.logger.warn({
        msg: `${queue.name}: jobs waited ${(STUCK_CHECKS * WATCHDOG_MS) / 1000} s with none taken; replacing this process's worker`,
        partition_state: seen,
      });
      const stale = this.workers[index];
      const fresh = this.newWorker(queue);
      this.workers[index] = fresh;
      // Not awaited: a worker stuck on a dead connection may never finish closing.
      stale.close(true).catch(() => undefined);
      fresh.run().catch((error: unknown) => this.logger.error({ msg: 'worker stopped', err: error }));
    }
  }

  /**
   * 'idle' when nothing waits (or the partition is paused or rate limited); otherwise what waits and runs,
   * head first, which changes as soon as anyone takes a job.
   */
  private async waitingState(queue: Queue): Promise<string> {
    const { wait, prioritized, active, meta, limiter } = queue.keys;
    const replies = await this.redis
      .multi()
      .lrange(wait, -1, -1)
      .zrange(prioritized, 0, 0)
      .llen(active)
      .hget(meta, 'paused')
      .pttl(limiter)
      .exec();
    if (!replies || replies.some(([error]) => error)) throw new Error('partition state unreadable');
    const [head, first, running, paused, limited] = replies.map(([, value]) => value) as [
      string[],
      string[],
      number,
      string | null,
      number,
    ];
    const next = head[0] ?? first[0];
    if (next === undefined || paused === '1' || limited > 0) return 'idle';
    return `${next}/${running}`;
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
    clearInterval(this.watchdog);
    const force = this.redis.status !== 'ready';
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((worker) => worker.close(force)));
    // Bounded: with Redis away, closing the event listeners would wait for a connection that may not come.
    const listeners = this.failures.splice(0).map((failures) => failures.close().catch(() => undefined));
    await Promise.race([Promise.all(listeners), sleep(1000)]);
    // The queues share the process's Redis client, so closing them sends nothing (RedisModule closes it).
    await Promise.all(this.queues.map((queue) => queue.close()));
    this.queues = [];
    this.workerConnection?.disconnect();
    this.workerConnection = undefined;
  }

  /** Counts this process's jobs in flight per partition, for the watchdog. */
  private async process(queue: Queue, job: Job<AllocationJobData>, token?: string) {
    this.deciding.set(queue, (this.deciding.get(queue) ?? 0) + 1);
    try {
      return await this.decide(queue, job, token);
    } finally {
      this.deciding.set(queue, (this.deciding.get(queue) ?? 1) - 1);
    }
  }

  /**
   * Decides the active job together with the jobs waiting behind it in its partition (up to
   * DECISION_BATCH_MAX requests a transaction), then goes on with the next jobs behind those, for up to
   * DRAIN_BUDGET_MS, while the partition is still its own: each batch is read from Redis while the previous
   * one's transaction runs, and a batch's jobs are removed once it has committed. A crash between a commit
   * and the removal hands those jobs out again, and their requests, decided already, are skipped.
   */
  private async decide(queue: Queue, job: Job<AllocationJobData>, token?: string) {
    const partition = partitionOf(job.data.requests[0]?.courseId ?? 0, this.config.allocationPartitions);
    const read = (options: ReadOptions) =>
      readPartitionJobs(this.redis, queue, this.config.queuePrefix, partition, options);
    const room = this.config.decisionBatchMax;
    let batch: OwnedJob[];
    try {
      batch = await read({ head: { id: job.id!, data: job.data }, room });
    } catch (error) {
      // Redis trouble: the job goes back to the wait list untouched (or, if Redis is gone, its lock expires
      // and it is handed out again).
      this.logger.warn(`job ${job.id} back to the queue: queue unreadable (${messageOf(error)})`);
      throw Worker.RateLimitError();
    }
    const started = Date.now();
    const more = () => !this.stopping && Date.now() - started < DRAIN_BUDGET_MS;
    const readNext = (after: OwnedJob[]) =>
      more() ? read({ room, skip: after.map((owned) => owned.id) }).catch(() => []) : Promise.resolve([]);
    // The next batch is read while this one's transaction runs (once it holds its locks, so never before
    // it began), passing over the jobs it holds.
    let next: Promise<OwnedJob[]> = Promise.resolve([]);
    let first: BatchOutcome;
    try {
      first = await this.decideFirst(job, batch, () => {
        next = readNext(batch.slice(1));
      });
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) {
        // Put the job back in front of its priority and pause the partition, rather than failing it:
        // a retry through BullMQ's delayed set would let later requests overtake it.
        this.logger.warn(
          `job ${job.id} (${describeRequests(batch[0].data.requests)}) back to the head: ${error.message}`,
        );
        await queue.rateLimit(DATABASE_OUTAGE_PAUSE_MS).catch(() => undefined);
        throw Worker.RateLimitError();
      }
      // Only if even setting a request aside failed (the database answers, but refuses the dead letter too).
      this.logger.error({
        msg: 'job failed',
        job_id: job.id,
        token,
        error: messageOf(error),
        idempotency_keys: batch[0].data.requests.map((request) => request.idempotencyKey),
      });
      throw new UnrecoverableError(messageOf(error));
    }
    this.report(job, first.jobs, first.decisions, Date.now() - started);
    let decided = first.decisions.length;
    // The active job was decided alone: its followers are still queued, and so is what was read after them.
    if (first.jobs.length < batch.length) {
      await this.removeDecided(queue, partition, first.jobs);
      return decided;
    }
    // From here the active job is decided; a batch behind it that fails stays queued, to be handed out as
    // usual. Each removal is sent on the connection before the next read, so Redis runs it first; only the
    // read after a batch passes over that batch's own jobs.
    // The active job's id goes too: it leaves the jobs-with-duplicates set (BullMQ removes its hash).
    const removals = [this.removeDecided(queue, partition, first.jobs)];
    for (;;) {
      const followers = await next;
      if (followers.length === 0) break;
      next = Promise.resolve([]);
      const outcome = await this.decideFollowers(job, followers, () => {
        next = readNext(followers);
      });
      if (!outcome) break;
      decided += outcome.decisions.length;
      removals.push(this.removeDecided(queue, partition, outcome.jobs));
    }
    await Promise.all(removals);
    return decided;
  }

  /**
   * A failed job's requests (those it owns and that are still undecided) become dead letters, then the job
   * leaves the failed set: so no failure path leaves a request queued with nothing telling an operator.
   * Every worker process hears of the failure; each request is written once whoever comes first, and a
   * process that fails here leaves the job in the failed set for the next start's sweep.
   */
  private async setAsideFailedJob(queue: Queue, jobId: string, reason: string): Promise<void> {
    try {
      const job = await Job.fromId<AllocationJobData>(queue, jobId);
      if (!job) return;
      const partition = partitionOf(job.data.requests[0]?.courseId ?? 0, this.config.allocationPartitions);
      const [owned] = await readPartitionJobs(this.redis, queue, this.config.queuePrefix, partition, {
        head: { id: jobId, data: job.data },
        room: job.data.requests.length,
      });
      for (const request of owned.data.requests) {
        await this.deadLetters.setAside({ ...request, priority: job.data.priority }, reason, 1, 'keep');
      }
      await queue.remove(jobId).catch(() => undefined);
      this.logger.error({
        msg: 'failed job set aside as dead letters',
        job_id: jobId,
        idempotency_keys: owned.data.requests.map((request) => request.idempotencyKey),
        error: reason,
      });
    } catch (error) {
      this.logger.warn(`failed job ${jobId} left in the failed set: ${messageOf(error)}`);
    }
  }

  /**
   * The first batch: the active job and its followers in one transaction. If it fails for a reason other
   * than an outage, the active job is decided alone, setting aside what cannot be decided (see
   * decideIsolating): a follower that cannot be decided then meets the same when its own turn comes, and
   * never takes the job ahead of it down with it.
   */
  private async decideFirst(
    job: Job<AllocationJobData>,
    batch: OwnedJob[],
    onLocked: () => void,
  ): Promise<BatchOutcome> {
    try {
      const jobs = batch.map((owned) => owned.data);
      return { jobs: batch, decisions: await this.allocation.decideThen(jobs, onLocked) };
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) throw error;
      this.logger.warn(
        `job ${job.id}: a batch of ${batch.length} job(s) failed (${messageOf(error)}); deciding the job alone, ` +
          'setting aside what cannot be decided',
      );
      return { jobs: batch.slice(0, 1), decisions: await this.decideIsolating(job, batch[0].data, error) };
    }
  }

  /**
   * Decides a job's requests that can be decided, in their order, and sets aside as dead letters only those
   * that cannot: a failing run is split in halves, each decided (or split again) in turn, down to single
   * requests, each tried DEAD_LETTER_ATTEMPTS times in all. An outage is never a dead letter: it stops the
   * split and the job waits at the head of its partition (what was committed stays decided).
   */
  private async decideIsolating(
    job: Job<AllocationJobData>,
    data: AllocationJobData,
    failure: unknown,
  ): Promise<AllocationDecision[]> {
    if (data.requests.length === 1) return this.decideOrSetAside(job, data, failure);
    const middle = Math.ceil(data.requests.length / 2);
    const decided: AllocationDecision[] = [];
    for (const requests of [data.requests.slice(0, middle), data.requests.slice(middle)]) {
      const half = { ...data, requests };
      try {
        decided.push(...(await this.allocation.decide(half)));
      } catch (error) {
        if (error instanceof DatabaseUnavailableError) throw error;
        decided.push(...(await this.decideIsolating(job, half, error)));
      }
    }
    return decided;
  }

  /** One request that failed once already: tried again, then set aside with its last error. */
  private async decideOrSetAside(
    job: Job<AllocationJobData>,
    data: AllocationJobData,
    failure: unknown,
  ): Promise<AllocationDecision[]> {
    const attempts = this.config.deadLetterAttempts;
    let last = failure;
    for (let attempt = 2; attempt <= attempts; attempt += 1) {
      await sleep(DEAD_LETTER_BACKOFF_MS * (attempt - 1));
      try {
        return await this.allocation.decide(data);
      } catch (error) {
        if (error instanceof DatabaseUnavailableError) throw error;
        last = error;
      }
    }
    const [request] = data.requests;
    await this.deadLetters.setAside({ ...request, priority: data.priority }, messageOf(last), attempts);
    this.logger.error({
      msg: 'dead letter',
      job_id: job.id,
      idempotency_keys: [request.idempotencyKey],
      course_id: request.courseId,
      attempts,
      error: messageOf(last),
    });
    return [];
  }

  /**
   * A batch of followers only. Any failure leaves its jobs queued, to be handed out as usual (where an
   * outage pauses the partition and a job that cannot be decided fails alone); null then.
   */
  private async decideFollowers(
    job: Job<AllocationJobData>,
    batch: OwnedJob[],
    onLocked: () => void,
  ): Promise<BatchOutcome | null> {
    const started = Date.now();
    try {
      const outcome = {
        jobs: batch,
        decisions: await this.allocation.decideThen(
          batch.map((owned) => owned.data),
          onLocked,
        ),
      };
      this.report(job, batch, outcome.decisions, Date.now() - started);
      return outcome;
    } catch (error) {
      this.logger.warn(`job ${job.id}: ${batch.length} jobs behind it left queued (${messageOf(error)})`);
      return null;
    }
  }

  /** Removes the followers of a committed batch; failing is harmless (handed out again, decided once). */
  private removeDecided(queue: Queue, partition: number, committed: OwnedJob[]): Promise<unknown> {
    const ids = committed.map((owned) => owned.id);
    return removeWaitingJobs(this.redis, queue, this.config.queuePrefix, partition, ids).catch(
      (error: unknown) =>
        this.logger.warn(`${ids.length} decided job(s) left in the queue: ${messageOf(error)}`),
    );
  }

  /** One info line per batch (the per-request audit is the decisions table); per request at debug level. */
  private report(job: Job, batch: OwnedJob[], decisions: AllocationDecision[], ms: number): void {
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
