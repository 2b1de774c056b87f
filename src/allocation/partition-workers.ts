import { Inject, Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, type Queue, QueueEvents, Worker } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import type { AllocationJobData } from '../queue/allocation-queue.contract.js';
import { AllocationQueues } from '../queue/allocation-queues.js';
import { createRedisClient, REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';

/** How often the watchdog looks at each partition, and how many looks with nothing taken make it act. */
const WATCHDOG_MS = 5000;
const STUCK_CHECKS = 3;
/** How often a worker that could not reach Redis at start tries again. */
const START_RETRY_MS = 500;
/** Tries to pin a partition, refused with Redis ready, before its queue is opened again (each waits up to 2 s). */
const PIN_TRIES_BEFORE_REOPENING = 5;
/** Tries to pin a partition while Redis is not ready between two warnings (about 20 s). */
const PIN_TRIES_BEFORE_WARNING = 40;

/** What the workers do with a partition's jobs. */
export interface PartitionHandlers {
  /** A job handed out by BullMQ, in the partition that the worker serves. */
  process(partition: number, queue: Queue, job: Job<AllocationJobData>, token?: string): Promise<number>;
  /** A job that landed in the failed set, heard by this process (or found there at start). */
  failed(partition: number, queue: Queue, jobId: string, reason: string): Promise<void>;
}

/**
 * The BullMQ side of the worker role: one Worker and one failure listener per partition queue, opened,
 * pinned (global concurrency 1), watched and stopped here. Each partition queue runs one job at a time
 * across every worker process, so whatever WORKER_CONCURRENCY and however many worker processes there are,
 * a partition has one job in flight and its courses are decided in queue order.
 */
@Injectable()
export class PartitionWorkers {
  private readonly logger = new Logger(PartitionWorkers.name);
  private workers: Worker<AllocationJobData>[] = [];
  private failures: QueueEvents[] = [];
  /** This process's jobs being decided, per partition (the watchdog leaves those partitions alone). */
  private readonly deciding = new Map<number, number>();
  /** Per partition, what the watchdog last saw waiting and for how many checks in a row. */
  private readonly stuck = new Map<number, { state: string; checks: number }>();
  private watchdog?: NodeJS.Timeout;
  /**
   * The workers' and failure listeners' connection (no timeouts, unlimited retries, as BullMQ requires of
   * them); BullMQ duplicates it for each blocking command, and leaves it to us to close.
   */
  private workerConnection?: RedisClient;
  private stopping = false;
  private handlers?: PartitionHandlers;

  constructor(
    @Inject(AllocationQueues) private readonly queues: AllocationQueues,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Opens the partition workers, pins each partition to one job at a time, then starts taking jobs. A
   * worker never takes a job before its partition is pinned, so order holds even if this process is the
   * first to touch the queue; while Redis is away, pinning is retried.
   */
  async start(handlers: PartitionHandlers): Promise<void> {
    this.handlers = handlers;
    const partitions = this.queues.all.map((_, partition) => partition);
    for (const partition of partitions) this.open(partition);
    for (const partition of partitions) {
      let refused = 0;
      for (let tries = 1; !this.stopping && !(await this.pinned(partition)); tries += 1) {
        const name = this.queues.queue(partition).name;
        // Refused while the shared client says it is ready: a queue whose setup stalled would never pin, and
        // the workers (and the watchdog) would never start. A fresh-clone CI run once saw a worker on a
        // Redis Cluster decide nothing from its start, without a log line; this is the likeliest cause.
        if (this.redis.status === 'ready' && ++refused % PIN_TRIES_BEFORE_REOPENING === 0) {
          this.logger.warn(`${name}: not pinned after ${refused} tries; opening the partition's queue again`);
          this.queues.reopen(partition);
          this.open(partition);
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
    for (const partition of partitions) {
      const queue = this.queues.queue(partition);
      const failed = await Promise.race([
        queue.getFailed().catch(() => []),
        sleep(START_RETRY_MS * 4).then(() => []),
      ]);
      for (const job of failed) await handlers.failed(partition, queue, job.id!, job.failedReason);
    }
    for (const worker of this.workers) this.run(worker);
    this.watchdog = setInterval(() => void this.watchPartitions(), WATCHDOG_MS);
    this.logger.log(
      `allocating from ${this.workers.length} partition queues, concurrency ${this.config.workerConcurrency}`,
    );
  }

  /**
   * A partition's worker (not running yet) and failure listener, on the partition's current queue, replacing
   * what was there (closed without waiting: what could not get ready may never finish closing).
   */
  private open(partition: number): void {
    const queue = this.queues.queue(partition);
    const replaced = [this.workers[partition], this.failures[partition]];
    // A job that fails anyway leaves its requests as dead letters, whichever worker hears of it.
    const failures = new QueueEvents(queue.name, {
      connection: this.blockingConnection(),
      prefix: this.config.queuePrefix,
    });
    // Availability is logged once per change by the shared client; these would repeat it per queue.
    failures.on('error', () => undefined);
    failures.on('failed', ({ jobId, failedReason }) => {
      void this.handlers?.failed(partition, this.queues.queue(partition), jobId, failedReason);
    });
    this.workers[partition] = this.newWorker(partition, queue);
    this.failures[partition] = failures;
    for (const closing of replaced) closing?.close().catch(() => undefined);
  }

  private blockingConnection(): RedisClient {
    if (!this.workerConnection) {
      this.workerConnection = createRedisClient(this.config.redis, 'blocking');
      // Availability is logged once per change by the shared client.
      this.workerConnection.on('error', () => undefined);
    }
    return this.workerConnection;
  }

  private newWorker(partition: number, queue: Queue): Worker<AllocationJobData> {
    const { queuePrefix: prefix, workerConcurrency, jobLockMs } = this.config;
    const worker = new Worker<AllocationJobData>(
      queue.name,
      (job, token) => this.process(partition, queue, job, token),
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

  private run(worker: Worker<AllocationJobData>): void {
    worker.run().catch((error: unknown) => this.logger.error({ msg: 'worker stopped', err: error }));
  }

  /** Counts this process's jobs in flight per partition, for the watchdog. */
  private async process(partition: number, queue: Queue, job: Job<AllocationJobData>, token?: string) {
    this.deciding.set(partition, (this.deciding.get(partition) ?? 0) + 1);
    try {
      return await this.handlers!.process(partition, queue, job, token);
    } finally {
      this.deciding.set(partition, (this.deciding.get(partition) ?? 1) - 1);
    }
  }

  /**
   * The watchdog: a partition whose jobs wait while none is taken, by any process, for STUCK_CHECKS checks
   * in a row gets this process's worker replaced, unless that worker is deciding one of them. Seen on a
   * Redis Cluster after failovers: a partition's blocking connection never woke up again, and its
   * requests waited for ever. A fresh worker has a fresh connection, and moves a job whose lock was lost
   * back to the queue at once.
   */
  private async watchPartitions(): Promise<void> {
    for (const [partition, stale] of this.workers.entries()) {
      if (this.stopping) return;
      const queue = this.queues.queue(partition);
      const seen = await this.waitingState(queue).catch(() => null);
      const busy = (this.deciding.get(partition) ?? 0) > 0;
      const previous = this.stuck.get(partition);
      if (seen === null || busy || seen === 'idle' || previous?.state !== seen) {
        this.stuck.set(partition, { state: seen ?? 'idle', checks: 1 });
        continue;
      }
      previous.checks += 1;
      if (previous.checks < STUCK_CHECKS) continue;
      this.stuck.delete(partition);
      this.logger.warn({
        msg: `${queue.name}: jobs waited ${(STUCK_CHECKS * WATCHDOG_MS) / 1000} s with none taken; replacing this process's worker`,
        partition_state: seen,
      });
      const fresh = this.newWorker(partition, queue);
      this.workers[partition] = fresh;
      // Not awaited: a worker stuck on a dead connection may never finish closing.
      stale.close(true).catch(() => undefined);
      this.run(fresh);
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
  private async pinned(partition: number): Promise<boolean> {
    if (this.redis.status !== 'ready') return false;
    const timeout = sleep(START_RETRY_MS * 4).then(() => false);
    return Promise.race([
      this.queues.pin(this.queues.queue(partition)).then(
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
    this.workerConnection?.disconnect();
    this.workerConnection = undefined;
  }
}
