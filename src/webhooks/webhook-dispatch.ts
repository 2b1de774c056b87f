import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { messageOf } from '../errors/error-message.js';
import { createRedisClient, REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { DeliveryStopped, WebhookDelivery } from './webhook-delivery.js';
import { WebhookStore } from './webhook.store.js';

/** One queue for every webhook; the hash tag keeps its keys in one Redis Cluster slot. */
export const WEBHOOK_QUEUE = 'webhooks-{w}';
const DELIVER = 'deliver';
export const webhookJobId = (webhookId: string): string => `webhook-${webhookId}`;

interface DeliverJob {
  webhookId: string;
}

/** A job waiting this long, by nobody taken, makes this process replace its worker (see watch()). */
const WAITING_TOO_LONG_MS = 15_000;

/**
 * The webhooks' schedule, on BullMQ (every worker process runs it): one job per webhook with events to
 * deliver (job id webhook-<id>, so never two at once), run by WebhookDelivery. A webhook whose undelivered
 * events are all waiting out a retry delay has its job moved to BullMQ's delayed set until the earliest
 * of them: BullMQ holds the retry schedule. A receiver that is down or slow holds only its own job.
 *
 * What is due comes from PostgreSQL, not from Redis: every WEBHOOK_POLL_MS each process compares each
 * course's last event with each webhook's cursor there, and adds the job of any webhook behind (a no-op
 * if it exists; promoted if it is delayed while another course has a new event). So an event committed
 * just before a crash, a job lost with Redis's memory, or a job failed when PostgreSQL was away is found
 * again by the next look; the job itself holds nothing but the webhook's id.
 */
@Injectable()
export class WebhookDispatch implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WebhookDispatch.name);
  private queue?: Queue<DeliverJob>;
  private worker?: Worker<DeliverJob>;
  private blocking?: RedisClient;
  private timer?: NodeJS.Timeout;
  private polling = false;
  /** Jobs this process runs now. */
  private running = 0;
  private lastProblem = '';
  /** Jobs seen waiting, and since when (the watchdog's memory). */
  private readonly waitingSince = new Map<string, number>();

  constructor(
    @Inject(WebhookStore) private readonly store: WebhookStore,
    @Inject(WebhookDelivery) private readonly delivery: WebhookDelivery,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.queue = new Queue<DeliverJob>(WEBHOOK_QUEUE, {
      connection: this.redis,
      prefix: this.config.queuePrefix,
    });
    // Availability is logged once per change by the shared client.
    this.queue.on('error', () => undefined);
    this.blocking = createRedisClient(this.config.redis, 'blocking');
    this.blocking.on('error', () => undefined);
    this.worker = this.newWorker();
    this.timer = setInterval(() => void this.poll(), this.config.webhooks.pollMs);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    this.delivery.stop();
    const ready = this.redis.status === 'ready';
    // Bounded: with Redis away, closing waits for a connection that may never come.
    await Promise.race([
      Promise.all([this.worker?.close(!ready), ready ? this.queue?.close() : undefined]).catch(
        () => undefined,
      ),
      sleep(2000, undefined, { ref: false }),
    ]);
    this.blocking?.disconnect();
  }

  private newWorker(): Worker<DeliverJob> {
    const { queuePrefix: prefix, jobLockMs, webhooks } = this.config;
    const worker = new Worker<DeliverJob>(WEBHOOK_QUEUE, (job, token) => this.process(job, token), {
      connection: this.blocking!,
      prefix,
      concurrency: webhooks.concurrency,
      lockDuration: jobLockMs,
      stalledInterval: Math.max(1000, Math.floor(jobLockMs / 2)),
      // A job whose process died is taken again, however often: it only names a webhook.
      maxStalledCount: 1_000_000,
      runRetryDelay: 1000,
    });
    worker.on('error', (error) => {
      if (this.redis.status === 'ready') this.logger.warn(`${WEBHOOK_QUEUE}: ${error.message}`);
    });
    return worker;
  }

  /** Runs a webhook's delivery; if only failing courses are left, the job waits in the delayed set. */
  private async process(job: Job<DeliverJob>, token?: string): Promise<void> {
    let retryAt: Date | null;
    this.running += 1;
    try {
      retryAt = await this.delivery.run(job.data.webhookId);
    } catch (error) {
      // Failed jobs are removed (removeOnFail); the next look adds the job again.
      if (!(error instanceof DeliveryStopped)) {
        this.logger.warn(`webhook ${job.data.webhookId}: ${messageOf(error)}; the next look tries again`);
      }
      throw error;
    } finally {
      this.running -= 1;
    }
    if (retryAt !== null && retryAt.getTime() > Date.now() + 50) {
      await job.moveToDelayed(retryAt.getTime(), token);
      throw new DelayedError();
    }
    // Done, or more is waiting: the job completes (and is removed) and the next look adds it again.
  }

  /** One look: the webhooks with events past their cursors get their job, or have it woken. */
  async poll(): Promise<void> {
    if (this.polling || this.redis.status !== 'ready' || !this.queue) return;
    this.polling = true;
    try {
      const due = await this.store.due();
      for (const { id, ready } of due) {
        const jobId = webhookJobId(id);
        const job = await this.queue.getJob(jobId);
        if (!job) {
          await this.queue.add(
            DELIVER,
            { webhookId: id },
            { jobId, removeOnComplete: true, removeOnFail: true },
          );
          continue;
        }
        const state = await job.getState();
        if (ready && state === 'delayed') await job.promote().catch(() => undefined);
        this.watch(jobId, state);
      }
      this.lastProblem = '';
    } catch (error) {
      const problem = messageOf(error);
      if (problem !== this.lastProblem) this.logger.warn(`webhook look: ${problem}; trying again`);
      this.lastProblem = problem;
    } finally {
      this.polling = false;
    }
  }

  /**
   * The watchdog: a job left waiting with nobody taking it (seen on a Redis Cluster after failovers: a
   * blocking connection that never wakes up) makes this process replace its worker, whose fresh
   * connection takes it.
   */
  private watch(jobId: string, state: string): void {
    // Only a process with a free slot should have taken it.
    if (
      (state !== 'waiting' && state !== 'prioritized') ||
      this.running >= this.config.webhooks.concurrency
    ) {
      this.waitingSince.delete(jobId);
      return;
    }
    const since = this.waitingSince.get(jobId) ?? Date.now();
    this.waitingSince.set(jobId, since);
    if (Date.now() - since < WAITING_TOO_LONG_MS) return;
    this.waitingSince.clear();
    this.logger.warn(
      `${WEBHOOK_QUEUE}: ${jobId} waited ${WAITING_TOO_LONG_MS / 1000} s untaken; replacing the worker`,
    );
    const stale = this.worker;
    this.worker = this.newWorker();
    // Not awaited: a worker stuck on a dead connection may never finish closing.
    stale?.close(true).catch(() => undefined);
  }
}
