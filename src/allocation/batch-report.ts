import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { EnrollmentMetrics } from '../metrics/enrollment-metrics.service.js';
import type { AllocationDecision } from './allocation.service.js';

/** One info line and the metrics per committed batch; the per-request audit is the decisions table. */
@Injectable()
export class BatchReport {
  private readonly logger = new Logger(BatchReport.name);

  constructor(
    @Inject(EnrollmentMetrics) private readonly metrics: EnrollmentMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** A committed batch of `jobs` jobs, taken by the active job `jobId`, that made `decisions` in `ms`. */
  committed(jobId: string | undefined, jobs: number, decisions: AllocationDecision[], ms: number): void {
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
        job_id: jobId,
        jobs,
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
