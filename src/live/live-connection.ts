import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import type { EventSelector } from '../events/events.service.js';
import { encodeCursor, type Section, type SectionName } from './live-cursor.js';
import type { DisconnectReason, LiveMetrics } from './live-metrics.js';
import { type LiveEvent, sectionOf, Subscription, type SubscriptionConnection } from './subscription.js';

/** Close codes this server uses (RFC 6455 §7.4.1). */
export const CLOSE = { goingAway: 1001, tryAgainLater: 1013 } as const;

export interface ConnectionLimits {
  /** Unsent bytes a connection may hold before it is cut off as a slow consumer. */
  sendBufferBytes: number;
  maxSubscriptions: number;
  /** How long a replay waits for a connection's buffer to drain before cutting it off. */
  slowConsumerMs: number;
}

/** Why subscribe() made no subscription: the connection is closed, or already has it, or has its most. */
export type SubscribeRefusal = 'closed' | 'duplicate' | 'full';

/**
 * One client's socket and its subscriptions. Every event goes out at most once on it, with the cursor of
 * the whole connection (each subscription's positions), and never past the send buffer limit: a client
 * that does not read is cut off (1013) rather than allowed to grow this process's memory.
 *
 * Its state changes only through its verbs: subscribe, unsubscribe, pong and heartbeat, cut and close.
 */
export class LiveConnection implements SubscriptionConnection {
  private readonly subscriptions = new Map<SectionName, Subscription>();
  /** Answered the last ping. */
  private alive = true;
  private isClosed = false;

  constructor(
    private readonly socket: WebSocket,
    /** What the upgrade request's bearer token was: the admin token, a client token (or none needed). */
    readonly byHeader: { operator: boolean; client: boolean },
    private readonly limits: ConnectionLimits,
    private readonly metrics: LiveMetrics,
  ) {}

  /** Cut off, dropped by the heartbeat, or closed by the client. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Adds a subscription to the selector from `start`, unless the connection is closed, already has one to
   * it, or holds its most. The caller has it followed.
   */
  subscribe(selector: EventSelector, start: Section): Subscription | SubscribeRefusal {
    if (this.isClosed) return 'closed';
    if (this.subscriptions.has(sectionOf(selector))) return 'duplicate';
    if (this.subscriptions.size >= this.limits.maxSubscriptions) return 'full';
    const subscription = new Subscription(selector, this, start);
    this.subscriptions.set(subscription.section, subscription);
    this.metrics.subscribed(1);
    return subscription;
  }

  /** Removes the subscription to the selector and returns it (the caller stops following it), if any. */
  unsubscribe(selector: EventSelector): Subscription | undefined {
    const subscription = this.subscriptions.get(sectionOf(selector));
    if (subscription === undefined) return undefined;
    this.subscriptions.delete(subscription.section);
    this.metrics.subscribed(-1);
    return subscription;
  }

  /** The client answered a ping. */
  pong(): void {
    this.alive = true;
  }

  /** Drops the connection if it did not answer the last ping, and pings it otherwise. */
  heartbeat(): void {
    if (!this.alive) {
      this.isClosed = true;
      this.metrics.disconnected('heartbeat');
      this.socket.terminate();
      return;
    }
    this.alive = false;
    this.socket.ping();
  }

  /**
   * The socket has closed (a client that closed it, unless it was cut off or dropped first): removes every
   * subscription and returns them, for the caller to stop following.
   */
  close(): Subscription[] {
    if (!this.isClosed) {
      this.isClosed = true;
      this.metrics.disconnected('client');
    }
    const subscriptions = [...this.subscriptions.values()];
    this.metrics.subscribed(-subscriptions.length);
    this.subscriptions.clear();
    return subscriptions;
  }

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
    if (takers.length === 0 || this.isClosed) return;
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
    if (this.isClosed) return false;
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
    while (!this.isClosed && this.socket.bufferedAmount > this.limits.sendBufferBytes / 2) {
      if (Date.now() > deadline) {
        this.cut(CLOSE.tryAgainLater, 'slow_consumer', 'not reading: resume with the last cursor');
        return false;
      }
      await sleep(10);
    }
    return !this.isClosed;
  }

  /** Closes with a code and reason; a peer that does not answer the close is dropped a second later. */
  cut(code: number, why: DisconnectReason, reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.metrics.disconnected(why);
    this.socket.close(code, reason);
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }
}
