import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { encodeCursor, type SectionName } from './live-cursor.js';
import type { DisconnectReason, LiveMetrics } from './live-metrics.js';
import type { LiveEvent, Subscription } from './subscription.js';

/** Close codes this server uses (RFC 6455 §7.4.1). */
export const CLOSE = { goingAway: 1001, tryAgainLater: 1013 } as const;

export interface ConnectionLimits {
  /** Unsent bytes a connection may hold before it is cut off as a slow consumer. */
  sendBufferBytes: number;
  maxSubscriptions: number;
  /** How long a replay waits for a connection's buffer to drain before cutting it off. */
  slowConsumerMs: number;
}

/**
 * One client's socket and its subscriptions. Every event goes out at most once on it, with the cursor of
 * the whole connection (each subscription's positions), and never past the send buffer limit: a client
 * that does not read is cut off (1013) rather than allowed to grow this process's memory.
 */
export class LiveConnection {
  readonly subscriptions = new Map<SectionName, Subscription>();
  /** Answered the last ping. */
  alive = true;
  closed = false;

  constructor(
    readonly socket: WebSocket,
    /** What the upgrade request's bearer token was: the admin token, a client token (or none needed). */
    readonly byHeader: { operator: boolean; client: boolean },
    private readonly limits: ConnectionLimits,
    private readonly metrics: LiveMetrics,
  ) {}

  get cursor(): string {
    return encodeCursor([...this.subscriptions.values()].map((sub) => [sub.section, sub.state]));
  }

  /**
   * Sends the event for those of `subscriptions` not past it yet (and moves them past it), unless another
   * subscription of this connection has sent it already. A subscription that selects it too but is behind
   * (still replaying) notes it as sent ahead, in the cursor as well, so neither it nor a connection resuming
   * from the cursor sends it again. `live` events count toward delivery latency.
   */
  deliver(event: LiveEvent, subscriptions: readonly Subscription[], live: boolean): void {
    const takers = subscriptions.filter((sub) => sub.active && !sub.isPast(event));
    if (takers.length === 0 || this.closed) return;
    const others = [...this.subscriptions.values()].filter((sub) => !takers.includes(sub));
    const sentBefore =
      takers.some((sub) => sub.wasSentAhead(event)) || others.some((sub) => sub.hasSent(event));
    for (const sub of takers) sub.pass(event);
    for (const sub of others) {
      if (sub.active && sub.matches(event) && !sub.isPast(event)) sub.markSentAhead(event);
    }
    if (sentBefore) return;
    const cursor = JSON.stringify(this.cursor);
    if (this.send(`{"type":"event","event":{"cursor":${cursor},${event.json.slice(1)}}`)) {
      this.metrics.delivered(live ? Date.now() - event.atMs : undefined);
    }
  }

  reply(message: Record<string, unknown>): void {
    this.send(JSON.stringify(message));
  }

  /** False once the connection is closed or cut off. */
  send(text: string): boolean {
    if (this.closed) return false;
    this.socket.send(text);
    if (this.socket.bufferedAmount > this.limits.sendBufferBytes) {
      this.cut(
        CLOSE.tryAgainLater,
        'slow_consumer',
        'send buffer full: read faster, then resume with the last cursor',
      );
      return false;
    }
    return true;
  }

  /** Resolves true once the send buffer is half empty (a replay's pace), false if it was cut off meanwhile. */
  async drained(): Promise<boolean> {
    const deadline = Date.now() + this.limits.slowConsumerMs;
    while (!this.closed && this.socket.bufferedAmount > this.limits.sendBufferBytes / 2) {
      if (Date.now() > deadline) {
        this.cut(CLOSE.tryAgainLater, 'slow_consumer', 'not reading: resume with the last cursor');
        return false;
      }
      await sleep(10);
    }
    return !this.closed;
  }

  /** Closes with a code and reason; a peer that does not answer the close is dropped a second later. */
  cut(code: number, why: DisconnectReason, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.metrics.disconnected(why);
    this.socket.close(code, reason);
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }
}
