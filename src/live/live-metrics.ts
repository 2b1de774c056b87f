import { Injectable } from '@nestjs/common';
import {
  InjectMetric,
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';

const CONNECTIONS = 'courseflow_ws_connections';
const SUBSCRIPTIONS = 'courseflow_ws_subscriptions';
const EVENTS_DELIVERED = 'courseflow_ws_events_delivered_total';
const DELIVERY_SECONDS = 'courseflow_ws_delivery_seconds';
const DISCONNECTS = 'courseflow_ws_disconnects_total';

export const liveMetricProviders = [
  makeGaugeProvider({ name: CONNECTIONS, help: 'WebSocket clients connected to /ws on this process' }),
  makeGaugeProvider({ name: SUBSCRIPTIONS, help: 'Subscriptions of the clients connected to this process' }),
  makeCounterProvider({ name: EVENTS_DELIVERED, help: 'Events sent to /ws clients (replayed and live)' }),
  makeHistogramProvider({
    name: DELIVERY_SECONDS,
    help: 'Seconds from the transaction that wrote a live event to its send on /ws (replays not counted)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  }),
  makeCounterProvider({
    name: DISCONNECTS,
    help: 'Closed /ws connections by why: client, slow_consumer, heartbeat, shutdown',
    labelNames: ['reason'],
  }),
];

export type DisconnectReason = 'client' | 'slow_consumer' | 'heartbeat' | 'shutdown';

/** What /ws does, per process: sum over API processes in Prometheus for the fleet. */
@Injectable()
export class LiveMetrics {
  constructor(
    @InjectMetric(CONNECTIONS) private readonly connections: Gauge<string>,
    @InjectMetric(SUBSCRIPTIONS) private readonly subscriptions: Gauge<string>,
    @InjectMetric(EVENTS_DELIVERED) private readonly events: Counter<string>,
    @InjectMetric(DELIVERY_SECONDS) private readonly delivery: Histogram<string>,
    @InjectMetric(DISCONNECTS) private readonly disconnects: Counter<'reason'>,
  ) {}

  connected(by: 1 | -1): void {
    this.connections.inc(by);
  }

  subscribed(by: number): void {
    this.subscriptions.inc(by);
  }

  /** An event sent; with its lag when it was sent live (not replayed). */
  delivered(lagMs: number | undefined): void {
    this.events.inc();
    if (lagMs !== undefined) this.delivery.observe(Math.max(0, lagMs / 1000));
  }

  disconnected(reason: DisconnectReason): void {
    this.disconnects.inc({ reason });
  }
}
