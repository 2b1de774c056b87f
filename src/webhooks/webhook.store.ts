import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { EventsService, type RecordedEvent } from '../events/events.service.js';
import type { DeliveryState } from './dto/deliveries.query.js';

/** A registered webhook, as the store holds it (the secret only for the deliverer). */
export interface WebhookRecord {
  id: string;
  url: string;
  secret: string;
  events: string[];
  courseId: number | null;
  createdAt: Date;
}

/**
 * One webhook's way through one course's record: after which event it stands, and the retry state of the
 * next matching event. `upTo` is the course's last event now.
 */
export interface Lane {
  courseId: number;
  after: number;
  upTo: number;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date | null;
}

/** An undelivered event and its tries (attempts 0: pending). */
export interface Undelivered {
  event: RecordedEvent;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date | null;
}

/** A webhook with events to deliver; `ready` if one of them may be tried now (not waiting out a delay). */
export interface DueWebhook {
  id: string;
  ready: boolean;
}

/** The longest error text kept (the column's length). */
const ERROR_LENGTH = 500;

/**
 * Webhooks and their cursors in PostgreSQL (contract v3, Webhooks). The events stay in the record: a
 * webhook's progress is a course sequence number per course (webhook_cursors), so whatever dies, the next
 * deliverer starts at the first event not yet delivered, and nothing committed is skipped.
 */
@Injectable()
export class WebhookStore {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(EventsService) private readonly events: EventsService,
  ) {}

  /**
   * Registers a webhook. In the same transaction every existing course gets a cursor at its last event,
   * so only events committed after this one are delivered (a course created later starts at its first).
   */
  async create(input: Omit<WebhookRecord, 'id' | 'createdAt'>): Promise<WebhookRecord> {
    return this.dataSource.transaction(async (manager) => {
      if (input.courseId !== null) {
        const found: unknown[] = await manager.query('SELECT 1 FROM courses WHERE id = $1', [input.courseId]);
        if (found.length === 0) {
          throw new DomainError(DomainErrorCode.CourseNotFound, `course_id ${input.courseId} does not exist`);
        }
      }
      const [row]: WebhookRow[] = await manager.query(
        `INSERT INTO webhooks (url, secret, events, course_id) VALUES ($1, $2, $3, $4) RETURNING ${WEBHOOK_COLUMNS}`,
        [input.url, input.secret, input.events, input.courseId],
      );
      await manager.query(
        `INSERT INTO webhook_cursors (webhook_id, course_id, delivered_seq)
         SELECT $1, id, events_written FROM courses
          WHERE events_written > 0 AND ($2::int IS NULL OR id = $2)`,
        [row.id, input.courseId],
      );
      return webhookOf(row);
    });
  }

  async list(): Promise<WebhookRecord[]> {
    const rows: WebhookRow[] = await this.dataSource.query(
      `SELECT ${WEBHOOK_COLUMNS} FROM webhooks ORDER BY id`,
    );
    return rows.map(webhookOf);
  }

  async get(id: string): Promise<WebhookRecord | null> {
    const rows: WebhookRow[] = await this.dataSource.query(
      `SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1`,
      [id],
    );
    return rows.length === 0 ? null : webhookOf(rows[0]);
  }

  /** Removes a webhook and its cursors; false if there was none. */
  async remove(id: string): Promise<boolean> {
    const [, removed]: [unknown, number] = await this.dataSource.query('DELETE FROM webhooks WHERE id = $1', [
      id,
    ]);
    return removed > 0;
  }

  /** The courses where the webhook has events after its cursor, with each one's retry state. */
  async lanes(webhookId: string): Promise<Lane[]> {
    const rows: Array<{
      course_id: number;
      after: number;
      up_to: number;
      attempts: number;
      last_error: string | null;
      next_attempt_at: Date | null;
    }> = await this.dataSource.query(
      `SELECT c.id AS course_id, COALESCE(k.delivered_seq, 0) AS after, c.events_written AS up_to,
              COALESCE(k.attempts, 0) AS attempts, k.last_error, k.next_attempt_at
         FROM webhooks w
         JOIN courses c ON w.course_id IS NULL OR c.id = w.course_id
         LEFT JOIN webhook_cursors k ON k.webhook_id = w.id AND k.course_id = c.id
        WHERE w.id = $1 AND c.events_written > COALESCE(k.delivered_seq, 0)
        ORDER BY c.id`,
      [webhookId],
    );
    return rows.map((row) => ({
      courseId: row.course_id,
      after: row.after,
      upTo: row.up_to,
      attempts: row.attempts,
      lastError: row.last_error,
      nextAttemptAt: row.next_attempt_at,
    }));
  }

  /** Every webhook with events past its cursor somewhere: what the deliverers have to do. */
  async due(): Promise<DueWebhook[]> {
    const rows: Array<{ id: string; ready: boolean }> = await this.dataSource.query(
      `SELECT w.id::text AS id,
              bool_or(k.next_attempt_at IS NULL OR k.next_attempt_at <= now()) AS ready
         FROM webhooks w
         JOIN courses c ON w.course_id IS NULL OR c.id = w.course_id
         LEFT JOIN webhook_cursors k ON k.webhook_id = w.id AND k.course_id = c.id
        WHERE c.events_written > COALESCE(k.delivered_seq, 0)
        GROUP BY w.id`,
    );
    return rows;
  }

  /** The webhook's events after each lane's cursor that it selects, at most `perLane` per course, in order. */
  async eventsFor(webhook: WebhookRecord, lanes: readonly Lane[], perLane: number): Promise<RecordedEvent[]> {
    if (lanes.length === 0) return [];
    const after = new Map(lanes.map((lane) => [lane.courseId, lane.after]));
    const types = webhook.events.includes('*') ? undefined : webhook.events;
    return this.events.inCoursesAfter(after, perLane, undefined, types);
  }

  /**
   * The lane stands after `seq` (delivered, or not selected): the retry state is cleared. Never moves a
   * cursor back (two deliverers that overlapped after a lost lock cannot undo each other). False if the
   * webhook is gone.
   */
  async advance(webhookId: string, courseId: number, seq: number): Promise<boolean> {
    const written: unknown[] = await this.dataSource.query(
      `INSERT INTO webhook_cursors AS k (webhook_id, course_id, delivered_seq)
       SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1)
       ON CONFLICT (webhook_id, course_id) DO UPDATE
          SET delivered_seq = GREATEST(k.delivered_seq, EXCLUDED.delivered_seq), attempts = 0,
              last_error = NULL, next_attempt_at = NULL, failing_since = NULL
       RETURNING 1`,
      [webhookId, courseId, seq],
    );
    // Nothing written: the webhook was removed.
    return written.length > 0;
  }

  /**
   * The next event after `after` failed: one more attempt, the error, and when to try again (the delay
   * computed from the attempts so far). Resolves with the attempts now counted.
   */
  async failed(
    webhookId: string,
    courseId: number,
    after: number,
    error: string,
    delayMs: (attempts: number) => number,
  ): Promise<number> {
    return this.dataSource.transaction(async (manager) => {
      const rows: Array<{ attempts: number }> = await manager.query(
        `INSERT INTO webhook_cursors AS k (webhook_id, course_id, delivered_seq, attempts, last_error, failing_since)
         SELECT $1, $2, $3, 1, $4, now() WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1)
         ON CONFLICT (webhook_id, course_id) DO UPDATE
            SET delivered_seq = GREATEST(k.delivered_seq, EXCLUDED.delivered_seq),
                attempts = k.attempts + 1, last_error = EXCLUDED.last_error,
                failing_since = COALESCE(k.failing_since, now())
         RETURNING attempts`,
        [webhookId, courseId, after, error.slice(0, ERROR_LENGTH)],
      );
      if (rows.length === 0) return 0;
      const attempts = rows[0].attempts;
      await manager.query(
        `UPDATE webhook_cursors SET next_attempt_at = now() + make_interval(secs => $3::float8 / 1000)
          WHERE webhook_id = $1 AND course_id = $2`,
        [webhookId, courseId, delayMs(attempts)],
      );
      return attempts;
    });
  }

  /**
   * The undelivered events of a webhook: per course, the next one (failing if it was tried, with its
   * tries) and those behind it (pending); failing first, then by course and commit order.
   */
  async undelivered(webhook: WebhookRecord, state: DeliveryState | undefined, limit: number) {
    const lanes = await this.lanes(webhook.id);
    // A failing course's first event is read too (and left out of a pending list): one more per course.
    const perLane = state === 'failing' ? 1 : limit + 1;
    const events = await this.eventsFor(
      webhook,
      state === 'failing' ? lanes.filter((lane) => lane.attempts > 0) : lanes,
      perLane,
    );
    const byCourse = new Map(lanes.map((lane) => [lane.courseId, lane]));
    const seen = new Set<number>();
    const list: Undelivered[] = events.map((event) => {
      const lane = byCourse.get(event.courseId)!;
      const head = !seen.has(event.courseId);
      seen.add(event.courseId);
      return head && lane.attempts > 0
        ? { event, attempts: lane.attempts, lastError: lane.lastError, nextAttemptAt: lane.nextAttemptAt }
        : { event, attempts: 0, lastError: null, nextAttemptAt: null };
    });
    return list
      .filter((delivery) => state === undefined || (state === 'failing') === delivery.attempts > 0)
      .sort((a, b) => Number(b.attempts > 0) - Number(a.attempts > 0))
      .slice(0, limit);
  }
}

const WEBHOOK_COLUMNS = 'id::text AS id, url, secret, events, course_id, created_at';

interface WebhookRow {
  id: string;
  url: string;
  secret: string;
  events: string[];
  course_id: number | null;
  created_at: Date;
}

const webhookOf = (row: WebhookRow): WebhookRecord => ({
  id: row.id,
  url: row.url,
  secret: row.secret,
  events: row.events,
  courseId: row.course_id,
  createdAt: row.created_at,
});
