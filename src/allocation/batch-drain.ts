import { Inject, Injectable, Logger } from '@nestjs/common';
import { type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { messageOf } from '../errors/error-message.js';
import type { AllocationJobData } from '../queue/allocation-queue.contract.js';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import {
  type AllocationDecision,
  AllocationService,
  DatabaseUnavailableError,
  describeRequests,
} from './allocation.service.js';
import { BatchReport } from './batch-report.js';
import { FailureIsolation } from './failure-isolation.js';
import { type OwnedJob, type ReadOptions, readPartitionJobs, removeWaitingJobs } from './waiting-jobs.js';

/** How long a partition pauses when the database keeps failing; its job waits at the head meanwhile. */
const DATABASE_OUTAGE_PAUSE_MS = 2000;
/**
 * How long one active job may go on deciding the jobs behind it before it hands its partition back to
 * BullMQ (which then hands out the next job, to this worker or another).
 */
const DRAIN_BUDGET_MS = 1000;

/** A committed transaction: the jobs it decided (active job first, if it was one) and its decisions. */
interface BatchOutcome {
  jobs: OwnedJob[];
  decisions: AllocationDecision[];
}

/**
 * The batch after the one being decided, read from Redis while that one's transaction runs. Reading starts
 * only once the transaction holds its course locks (never before it began), and passes over the jobs the
 * transaction holds; until then, and once taken, it is empty.
 */
class LookAhead {
  private pending: Promise<OwnedJob[]> = Promise.resolve([]);

  constructor(private readonly readAfter: (held: OwnedJob[]) => Promise<OwnedJob[]>) {}

  /** Starts reading the batch that follows `held`. */
  start(held: OwnedJob[]): void {
    this.pending = this.readAfter(held);
  }

  /** The batch read ahead (empty if none was started), and forgets it. */
  take(): Promise<OwnedJob[]> {
    const pending = this.pending;
    this.pending = Promise.resolve([]);
    return pending;
  }
}

/**
 * Decides an active job together with the jobs waiting behind it in its partition (up to
 * DECISION_BATCH_MAX requests a transaction), then goes on with the next jobs behind those, for up to
 * DRAIN_BUDGET_MS, while the partition is still its own. A batch's jobs are removed once it has committed:
 * a crash between a commit and the removal hands those jobs out again, and their requests, decided
 * already, are skipped.
 */
@Injectable()
export class BatchDrain {
  private readonly logger = new Logger(BatchDrain.name);
  private stopping = false;

  constructor(
    @Inject(AllocationService) private readonly allocation: AllocationService,
    @Inject(FailureIsolation) private readonly isolation: FailureIsolation,
    @Inject(BatchReport) private readonly report: BatchReport,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Ends every drain after its current batch (shutdown). */
  stop(): void {
    this.stopping = true;
  }

  /** Drains from `job`, the active job of `partition`; resolves with the number of decisions made. */
  async run(partition: number, queue: Queue, job: Job<AllocationJobData>, token?: string): Promise<number> {
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
    const lookAhead = new LookAhead((held) =>
      more() ? read({ room, skip: held.map((owned) => owned.id) }).catch(() => []) : Promise.resolve([]),
    );
    let first: BatchOutcome;
    try {
      first = await this.firstBatch(job, batch, () => lookAhead.start(batch.slice(1)));
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
    this.report.committed(job.id, first.jobs.length, first.decisions, Date.now() - started);
    let decided = first.decisions.length;
    // The active job was decided alone: its followers are still queued, and so is what was read after them.
    const remove = (committed: OwnedJob[]) => this.removeDecided(queue, partition, committed);
    if (first.jobs.length < batch.length) {
      await remove(first.jobs);
      return decided;
    }
    // From here the active job is decided; a batch behind it that fails stays queued, to be handed out as
    // usual. Each removal is sent on the connection before the next read, so Redis runs it first; only the
    // read after a batch passes over that batch's own jobs.
    // The active job's id goes too: it leaves the jobs-with-duplicates set (BullMQ removes its hash).
    const removals = [remove(first.jobs)];
    for (;;) {
      const followers = await lookAhead.take();
      if (followers.length === 0) break;
      const outcome = await this.followerBatch(job, followers, () => lookAhead.start(followers));
      if (!outcome) break;
      decided += outcome.decisions.length;
      removals.push(remove(outcome.jobs));
    }
    await Promise.all(removals);
    return decided;
  }

  /**
   * The first batch: the active job and its followers in one transaction. If it fails for a reason other
   * than an outage, the active job is decided alone, setting aside what cannot be decided (FailureIsolation):
   * a follower that cannot be decided then meets the same when its own turn comes, and never takes the job
   * ahead of it down with it.
   */
  private async firstBatch(
    job: Job<AllocationJobData>,
    batch: OwnedJob[],
    onLocked: () => void,
  ): Promise<BatchOutcome> {
    try {
      const jobs = batch.map((owned) => owned.data);
      return { jobs: batch, decisions: await this.allocation.decide(jobs, onLocked) };
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) throw error;
      this.logger.warn(
        `job ${job.id}: a batch of ${batch.length} job(s) failed (${messageOf(error)}); deciding the job alone, ` +
          'setting aside what cannot be decided',
      );
      return {
        jobs: batch.slice(0, 1),
        decisions: await this.isolation.isolate(job.id, batch[0].data, error),
      };
    }
  }

  /**
   * A batch of followers only. Any failure leaves its jobs queued, to be handed out as usual (where an
   * outage pauses the partition and a job that cannot be decided fails alone); null then.
   */
  private async followerBatch(
    job: Job<AllocationJobData>,
    batch: OwnedJob[],
    onLocked: () => void,
  ): Promise<BatchOutcome | null> {
    const started = Date.now();
    try {
      const decisions = await this.allocation.decide(
        batch.map((owned) => owned.data),
        onLocked,
      );
      this.report.committed(job.id, batch.length, decisions, Date.now() - started);
      return { jobs: batch, decisions };
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
}
