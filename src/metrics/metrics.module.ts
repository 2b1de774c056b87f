import { Global, Module } from '@nestjs/common';
import {
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
  PrometheusModule,
} from '@willsoto/nestjs-prometheus';
import { CoursesModule } from '../courses/courses.module.js';
import { CAPACITY, CourseGauges, QUEUE_DEPTH, SEATS_TAKEN } from './course-gauges.service.js';
import {
  BATCH_SIZE,
  EnrollmentMetrics,
  LATENCY_SECONDS,
  OFFER_EXPIRY_LAG,
  REQUESTS_TOTAL,
} from './enrollment-metrics.service.js';
import { MetricsController, MetricsJsonController } from './metrics.controller.js';
import {
  WEBHOOK_DELIVERIES_TOTAL,
  WEBHOOK_FAILING_SECONDS,
  WEBHOOK_LAG_SECONDS,
  WebhookMetrics,
} from './webhook-metrics.service.js';
import type { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';

/** Dead letters waiting for an operator (see src/dead-letters). */
export const DEAD_LETTERS = 'courseflow_dead_letters';

const courseGauge = (name: string, help: string) =>
  makeGaugeProvider({
    name,
    help,
    labelNames: ['course'],
    inject: [CourseGauges],
    // prom-client calls collect() on each gauge at scrape time; they share one read of the stores.
    collect: (courseGauges: CourseGauges) => courseGauges.refresh(),
  });

@Global()
@Module({
  imports: [
    PrometheusModule.register({
      path: '/metrics',
      controller: MetricsController,
      defaultMetrics: { enabled: true },
    }),
    CoursesModule,
  ],
  controllers: [MetricsJsonController],
  providers: [
    EnrollmentMetrics,
    WebhookMetrics,
    CourseGauges,
    makeCounterProvider({
      name: WEBHOOK_DELIVERIES_TOTAL,
      help: 'Webhook delivery tries by result: delivered (2xx within 10 s), rejected (another status), timeout, unreachable',
      labelNames: ['result'],
    }),
    makeHistogramProvider({
      name: WEBHOOK_LAG_SECONDS,
      help: "Seconds from an event's commit to its delivery (a receiver's 2xx)",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400],
    }),
    makeGaugeProvider({
      name: WEBHOOK_FAILING_SECONDS,
      help: "Per webhook, seconds since its oldest undelivered event's first failed try; 0 when none is failing (fleet-wide: aggregate with max)",
      labelNames: ['webhook_id'],
      inject: [DataSource],
      async collect(this: Gauge<string>, dataSource: DataSource) {
        try {
          const rows: Array<{ webhook_id: string; seconds: number }> = await dataSource.query(
            `SELECT w.id::text AS webhook_id,
                    COALESCE(EXTRACT(EPOCH FROM now() - min(k.failing_since)), 0)::float8 AS seconds
               FROM webhooks w LEFT JOIN webhook_cursors k ON k.webhook_id = w.id
              GROUP BY w.id`,
          );
          // A removed webhook leaves the series.
          this.reset();
          for (const row of rows) this.set({ webhook_id: row.webhook_id }, row.seconds);
        } catch {
          // The database is away: the last values stay; /ready reports the outage.
        }
      },
    }),
    makeCounterProvider({
      name: REQUESTS_TOTAL,
      help: 'Enrollment requests by what became of them (queued, replayed, rejected_invalid, rate_limited, unavailable, enrolled, waitlisted, rejected)',
      labelNames: ['status'],
    }),
    makeHistogramProvider({
      name: LATENCY_SECONDS,
      help: 'Seconds from acceptance (202) to decision',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    makeHistogramProvider({
      name: BATCH_SIZE,
      help: 'Requests decided per allocation transaction (the active job and the jobs waiting behind it)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    }),
    makeHistogramProvider({
      name: OFFER_EXPIRY_LAG,
      help: 'Seconds from an offer deadline to its expiry by the sweep (offer mode; the contract allows 5)',
      buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60],
    }),
    courseGauge(QUEUE_DEPTH, 'Requests accepted for the course and not decided yet'),
    courseGauge(SEATS_TAKEN, 'Seats taken in the course'),
    courseGauge(CAPACITY, 'Seats the course has'),
    makeGaugeProvider({
      name: DEAD_LETTERS,
      help: 'Requests set aside as dead letters, undecided until an operator retries or rejects them (fleet-wide: aggregate with max)',
      inject: [DataSource],
      async collect(this: Gauge<string>, dataSource: DataSource) {
        try {
          const [row]: Array<{ n: number }> = await dataSource.query(
            `SELECT count(*)::int AS n FROM dead_letters d
              WHERE NOT EXISTS (SELECT 1 FROM decisions WHERE idempotency_key = d.idempotency_key)`,
          );
          this.set(row.n);
        } catch {
          // The database is away: the last value stays; /ready reports the outage.
        }
      },
    }),
  ],
  exports: [EnrollmentMetrics, WebhookMetrics],
})
export class MetricsModule {}
