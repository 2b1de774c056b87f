import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DeadLetterStore } from '../dead-letters/dead-letter.store.js';
import { messageOf } from '../errors/error-message.js';
import type { AllocationJobData } from '../queue/allocation-queue.contract.js';
import {
  type AllocationDecision,
  AllocationService,
  DatabaseUnavailableError,
} from './allocation.service.js';

/** Pause before trying a failing request again (doubled each try) before it becomes a dead letter. */
const DEAD_LETTER_BACKOFF_MS = 200;

/**
 * What a job whose batch failed (for a reason other than an outage) goes through: its requests that can be
 * decided are, in their order, and only those that cannot become dead letters. One bad request never takes
 * the job, or the requests behind it, down with it.
 */
@Injectable()
export class FailureIsolation {
  private readonly logger = new Logger(FailureIsolation.name);

  constructor(
    @Inject(AllocationService) private readonly allocation: AllocationService,
    @Inject(DeadLetterStore) private readonly deadLetters: DeadLetterStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * A failing run is split in halves, each decided (or split again) in turn, down to single requests, each
   * tried DEAD_LETTER_ATTEMPTS times in all. An outage is never a dead letter: it stops the split and the
   * job waits at the head of its partition (what was committed stays decided).
   */
  async isolate(
    jobId: string | undefined,
    data: AllocationJobData,
    failure: unknown,
  ): Promise<AllocationDecision[]> {
    if (data.requests.length === 1) return this.retryOrSetAside(jobId, data, failure);
    const middle = Math.ceil(data.requests.length / 2);
    const decided: AllocationDecision[] = [];
    for (const requests of [data.requests.slice(0, middle), data.requests.slice(middle)]) {
      const half = { ...data, requests };
      try {
        decided.push(...(await this.allocation.decide([half])));
      } catch (error) {
        if (error instanceof DatabaseUnavailableError) throw error;
        decided.push(...(await this.isolate(jobId, half, error)));
      }
    }
    return decided;
  }

  /** One request that failed once already: tried again, then set aside with its last error. */
  private async retryOrSetAside(
    jobId: string | undefined,
    data: AllocationJobData,
    failure: unknown,
  ): Promise<AllocationDecision[]> {
    const attempts = this.config.deadLetterAttempts;
    let last = failure;
    for (let attempt = 2; attempt <= attempts; attempt += 1) {
      await sleep(DEAD_LETTER_BACKOFF_MS * (attempt - 1));
      try {
        return await this.allocation.decide([data]);
      } catch (error) {
        if (error instanceof DatabaseUnavailableError) throw error;
        last = error;
      }
    }
    const [request] = data.requests;
    await this.deadLetters.setAside({ ...request, priority: data.priority }, messageOf(last), attempts);
    this.logger.error({
      msg: 'dead letter',
      job_id: jobId,
      idempotency_keys: [request.idempotencyKey],
      course_id: request.courseId,
      attempts,
      error: messageOf(last),
    });
    return [];
  }
}
