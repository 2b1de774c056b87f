import { Inject, Injectable, Logger } from '@nestjs/common';
import { Job, type Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DeadLetterStore } from '../dead-letters/dead-letter.store.js';
import { messageOf } from '../errors/error-message.js';
import type { AllocationJobData } from '../queue/allocation-queue.contract.js';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { readPartitionJobs } from './waiting-jobs.js';

/**
 * A job in BullMQ's failed set (it stalled, killing its worker, more than maxStalledCount times; or even
 * setting a request aside failed) leaves its requests as dead letters, then leaves the failed set: so no
 * failure path leaves a request queued with nothing telling an operator.
 */
@Injectable()
export class FailedJobSweep {
  private readonly logger = new Logger(FailedJobSweep.name);

  constructor(
    @Inject(DeadLetterStore) private readonly deadLetters: DeadLetterStore,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * The job's requests that it owns and that are still undecided become dead letters. Every worker process
   * hears of a failure; each request is written once whoever comes first, and a process that fails here
   * leaves the job in the failed set for the next start's sweep.
   */
  async setAside(queue: Queue, partition: number, jobId: string, reason: string): Promise<void> {
    try {
      const job = await Job.fromId<AllocationJobData>(queue, jobId);
      if (!job) return;
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
}
