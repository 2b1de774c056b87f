import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';

export const REQUESTS_TOTAL = 'enrollment_requests_total';
export const LATENCY_SECONDS = 'enrollment_latency_seconds';
export const BATCH_SIZE = 'allocation_batch_size';
export const OFFER_EXPIRY_LAG = 'courseflow_offer_expiry_lag_seconds';

/** What happened to a request, as counted by the process that saw it. */
export type RequestCountStatus =
  | 'queued'
  | 'replayed'
  | 'rejected_invalid'
  | 'rate_limited'
  | 'unavailable'
  | 'enrolled'
  | 'waitlisted'
  | 'rejected';

/**
 * The per-process request counters and the acceptance-to-decision histogram. Each API and worker
 * process counts what it saw itself, so summing over processes in Prometheus gives the fleet's figures.
 */
@Injectable()
export class EnrollmentMetrics {
  constructor(
    @InjectMetric(REQUESTS_TOTAL) private readonly requests: Counter<'status'>,
    @InjectMetric(LATENCY_SECONDS) private readonly latency: Histogram<string>,
    @InjectMetric(BATCH_SIZE) private readonly batchSize: Histogram<string>,
    @InjectMetric(OFFER_EXPIRY_LAG) private readonly offerExpiryLag: Histogram<string>,
  ) {}

  /** An offer expired this long after its deadline (the sweep's lag). */
  offerExpired(lateSeconds: number): void {
    this.offerExpiryLag.observe(Math.max(lateSeconds, 0));
  }

  count(status: RequestCountStatus, by = 1): void {
    this.requests.inc({ status }, by);
  }

  /** How many requests one allocation transaction decided. */
  batch(decisions: number): void {
    if (decisions > 0) this.batchSize.observe(decisions);
  }

  /** A decision, with the time since the API accepted the request. */
  decided(status: 'enrolled' | 'waitlisted' | 'rejected', requestedAt: Date, decidedAt: Date): void {
    this.requests.inc({ status });
    this.latency.observe(Math.max(0, (decidedAt.getTime() - requestedAt.getTime()) / 1000));
  }
}
