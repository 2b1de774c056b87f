import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';

export const WEBHOOK_DELIVERIES_TOTAL = 'courseflow_webhook_deliveries_total';
export const WEBHOOK_LAG_SECONDS = 'courseflow_webhook_lag_seconds';
export const WEBHOOK_FAILING_SECONDS = 'courseflow_webhook_failing_seconds';

/**
 * What became of one try: delivered (a 2xx within 10 s), rejected (another status), timeout (no answer
 * within 10 s), unreachable (no connection, or it broke).
 */
export type WebhookTryResult = 'delivered' | 'rejected' | 'timeout' | 'unreachable';

/** The delivering process's webhook figures (contract v3, Webhooks); sum over processes for the fleet's. */
@Injectable()
export class WebhookMetrics {
  constructor(
    @InjectMetric(WEBHOOK_DELIVERIES_TOTAL) private readonly tries: Counter<'result'>,
    @InjectMetric(WEBHOOK_LAG_SECONDS) private readonly lag: Histogram<string>,
  ) {}

  /** One try; a delivery also observes the time from the event's commit to its 2xx. */
  tried(result: WebhookTryResult, committedAtMs?: number): void {
    this.tries.inc({ result });
    if (result === 'delivered' && committedAtMs !== undefined) {
      this.lag.observe(Math.max(0, (Date.now() - committedAtMs) / 1000));
    }
  }
}
