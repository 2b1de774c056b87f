import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { messageOf } from '../errors/error-message.js';
import { type RecordedEvent, withCursor } from '../events/events.service.js';
import { WebhookMetrics, type WebhookTryResult } from '../metrics/webhook-metrics.service.js';
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';
import { type Lane, type WebhookRecord, WebhookStore } from './webhook.store.js';

/** A 2xx within this is a delivery (contract v3); past it the try is abandoned as a timeout. */
export const TRY_TIMEOUT_MS = 10_000;
/** Courses of one webhook delivered at once (each course's events one after another, in commit order). */
const LANES_AT_ONCE = 8;
/** Events read per course at once. */
const EVENTS_PER_READ = 100;
/** A run hands its job back after this (the next poll adds it again), so webhooks take turns. */
const RUN_FOR_MS = 20_000;
/** A course's turn within a run: then the others (taken in a new random order each pass) go first. */
const LANE_TURN_MS = 2000;

/**
 * The wait before try `attempts + 1` of an event: 1 s, 2 s, 4 s … doubling up to the cap, each within
 * ±20% (so receivers coming back are not hit by every webhook at once), never past the cap.
 */
export function retryDelayMs(attempts: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs, 1000 * 2 ** Math.min(Math.max(attempts - 1, 0), 20));
  return Math.min(maxMs, Math.round(base * (0.8 + 0.4 * random())));
}

/** What one try came to. */
type TryOutcome = { result: 'delivered' } | { result: Exclude<WebhookTryResult, 'delivered'>; error: string };

/** Thrown when the process stops mid-run: the job ends without counting a failed try. */
export class DeliveryStopped extends Error {}

/**
 * Delivers one webhook's events (contract v3, Webhooks): for each course with events past the webhook's
 * cursor, the events it selects, one at a time in commit order, each POSTed signed until a 2xx comes
 * within 10 s. A delivery moves the cursor past the event; a failure records the try (attempts, error,
 * next attempt after a growing delay) and stops that course until then, while the other courses go on.
 * The cursor moves only after the 2xx, so a process killed at any point leaves at worst one event to be
 * sent again (at least once: receivers dedupe by event.id), never one skipped.
 */
@Injectable()
export class WebhookDelivery {
  private readonly stopping = new AbortController();

  constructor(
    @Inject(WebhookStore) private readonly store: WebhookStore,
    @Inject(WebhookMetrics) private readonly metrics: WebhookMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Abandons the tries in flight: the process is stopping. */
  stop(): void {
    this.stopping.abort();
  }

  /**
   * Delivers what the webhook has now. Resolves with when to come back: null when nothing is left (or
   * the webhook is gone), the earliest next attempt when only failing courses are left, now when the
   * run used its time and more is waiting.
   */
  async run(webhookId: string): Promise<Date | null> {
    const deadline = Date.now() + RUN_FOR_MS;
    const webhook = await this.store.get(webhookId);
    if (!webhook) return null;
    while (Date.now() < deadline) {
      if (this.stopping.signal.aborted) throw new DeliveryStopped('stopping');
      const lanes = await this.store.lanes(webhookId);
      const now = Date.now();
      const ready = lanes.filter((lane) => (lane.nextAttemptAt?.getTime() ?? 0) <= now);
      if (ready.length === 0) {
        if (lanes.length === 0) return null;
        return new Date(Math.min(...lanes.map((lane) => lane.nextAttemptAt!.getTime())));
      }
      // Shuffled, so courses with long backlogs cannot keep the others waiting run after run.
      for (let i = ready.length - 1; i > 0; i -= 1) {
        const j = Math.floor(Math.random() * (i + 1));
        [ready[i], ready[j]] = [ready[j], ready[i]];
      }
      let next = 0;
      let gone = false;
      const worker = async () => {
        while (next < ready.length && !gone) {
          const turnEnds = Math.min(deadline, Date.now() + LANE_TURN_MS);
          if ((await this.deliverLane(webhook, ready[next++], turnEnds)) === 'gone') gone = true;
        }
      };
      await Promise.all(Array.from({ length: Math.min(LANES_AT_ONCE, ready.length) }, worker));
      if (gone) return null;
    }
    return new Date();
  }

  /**
   * One course's events for the webhook, in commit order, until one fails, none is left, or its turn is
   * up (so a long backlog in one course does not keep the webhook's other courses waiting, nor the run
   * from noticing the webhook was removed). Each cursor write overlaps the next event's POST, and is
   * awaited before the one after: a crash can cost a course at most two repeats, never a skip.
   */
  private async deliverLane(
    webhook: WebhookRecord,
    lane: Lane,
    deadline: number,
  ): Promise<'caught up' | 'failed' | 'paused' | 'gone'> {
    let after = lane.after;
    let written: Promise<boolean> = Promise.resolve(true);
    const cursorAt = async (seq: number) => {
      const still = await written;
      if (still) {
        written = this.store.advance(webhook.id, lane.courseId, seq);
        // Marked handled now: it fails (PostgreSQL away) while the next POST is out, and an unhandled
        // rejection would end the process. Its error is thrown where it is awaited: here, or below.
        written.catch(() => undefined);
      }
      return still;
    };
    try {
      for (;;) {
        const events = await this.store.eventsFor(webhook, [{ ...lane, after }], EVENTS_PER_READ);
        for (const event of events) {
          if (Date.now() > deadline) return 'paused';
          const outcome = await this.send(webhook, event);
          if (outcome.result !== 'delivered') {
            this.metrics.tried(outcome.result);
            if (!(await written)) return 'gone';
            // Whatever lay between the last delivered event and this one was not selected.
            await this.store.failed(webhook.id, lane.courseId, event.seq - 1, outcome.error, (attempts) =>
              retryDelayMs(attempts, this.config.webhooks.retryMaxMs),
            );
            return 'failed';
          }
          this.metrics.tried('delivered', event.atMs);
          if (!(await cursorAt(event.seq))) return 'gone';
          after = event.seq;
        }
        if (events.length < EVENTS_PER_READ) {
          // Every event up to the course's last one (when the lane was read) is delivered or not selected.
          if (lane.upTo > after && !(await cursorAt(lane.upTo))) return 'gone';
          return 'caught up';
        }
      }
    } finally {
      await written.catch(() => undefined);
    }
  }

  /** One signed POST of one event. */
  private async send(webhook: WebhookRecord, event: RecordedEvent): Promise<TryOutcome> {
    const body = JSON.stringify({ webhook_id: webhook.id, event: withCursor(event) });
    const timeout = AbortSignal.timeout(TRY_TIMEOUT_MS);
    try {
      const response = await fetch(webhook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'CourseFlow-Webhooks/1',
          [SIGNATURE_HEADER]: signatureHeader(webhook.secret, body, Math.floor(Date.now() / 1000)),
          'CourseFlow-Webhook-Id': webhook.id,
          'CourseFlow-Event-Id': event.body.id,
        },
        body,
        // A redirect is not a delivery: it is retried like any other answer that is not a 2xx.
        redirect: 'manual',
        signal: AbortSignal.any([timeout, this.stopping.signal]),
      });
      // Only the status counts; the body is not read (a receiver cannot hold the try with it).
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return { result: 'delivered' };
      return { result: 'rejected', error: `HTTP ${response.status} ${response.statusText}`.trim() };
    } catch (error) {
      if (this.stopping.signal.aborted) throw new DeliveryStopped('stopping');
      if (timeout.aborted) return { result: 'timeout', error: `no answer within ${TRY_TIMEOUT_MS / 1000} s` };
      return { result: 'unreachable', error: unreachable(error) };
    }
  }
}

/** fetch's "fetch failed", with the cause that says why (ECONNREFUSED 127.0.0.1:9, ENOTFOUND …). */
function unreachable(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause === undefined ? messageOf(error) : `${messageOf(error)}: ${messageOf(cause)}`;
}
