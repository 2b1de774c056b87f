import type pg from 'pg';

/** A TCP port free on 127.0.0.1 now, below the kernel's ephemeral range (see kit.mjs). */
export function freePort(): Promise<number>;
/** Where tests, the demo and the bench may create and drop databases (ADMIN_DATABASE_URL). */
export const ADMIN_DATABASE_URL: string;
/** The admin URL pointed at another database of the same server. */
export function databaseUrl(name: string): string;
/** Runs work on one connection, closed (and awaited) whatever happens. */
export function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T>;
/** The Redis the tests, the demo and the bench use (REDIS_HOST, REDIS_PORT). */
export const REDIS: { host: string; port: number };
/** Deletes every key matching the pattern (SCAN, never KEYS). */
export function deleteRedisKeys(pattern: string): Promise<void>;
/** redis-server flags of a Redis Cluster node (see kit.mjs). */
export function clusterNodeArgs(nodeTimeoutMs: number, busPort: number): string[];
/** `redis-cli --cluster create` (one replica per master) and wait until it is ok with every replica linked. */
export function createRedisCluster(ports: number[], timeoutMs?: number): Promise<void>;

/** What a client may subscribe to on /ws: a student's events, one request's, or (operators) a course's. */
export type LiveSelector =
  { student_id: string } | { idempotency_key: string } | { course_id: number; token?: string };

/** An event object as /ws and GET /courses/:id/events send it (docs/guarantees.md §15). */
export interface LiveEvent {
  cursor: string;
  /** Names the event alone, the same over REST, /ws and webhooks. */
  id: string;
  type:
    | 'enrolled'
    | 'waitlisted'
    | 'rejected'
    | 'promoted'
    | 'offered'
    | 'offer_expired'
    | 'dropped'
    | 'cancelled'
    | 'capacity_changed'
    | 'dead_lettered'
    | 'dead_letter_retried'
    | 'drawn';
  course_id: number;
  student_id: string | null;
  idempotency_key: string | null;
  status: string | null;
  waitlist_position: number | null;
  reason: string | null;
  capacity: number | null;
  at: string;
  /** The committing transaction (decimal digits): shared by the events of one commit; null before v3. */
  txid: string | null;
}

/** An event with the time it arrived (Date.now()). */
export interface ReceivedEvent {
  event: LiveEvent;
  receivedAt: number;
}

/** Event types that are a request's decision (its row in the record); the others are later changes. */
export const DECISION_EVENT_TYPES: ReadonlySet<string>;
/** An event as a line to compare with the record: every field but the cursor. */
export function comparableEvent(event: Omit<LiveEvent, 'cursor'>): string;

/** The /ws address of a service's HTTP address (a ws:// one is kept). */
export function liveUrl(url: string): string;

/** One /ws connection holding a few subscriptions, keeping each event with its receipt time (see kit.mjs). */
export class LiveClient {
  constructor(
    url: string,
    selectors: LiveSelector[],
    options?: { after?: string; reconnect?: boolean; keep?: boolean; headers?: Record<string, string> },
  );
  /** Every event received, in order (unless `keep` is false). */
  readonly events: ReceivedEvent[];
  /** Resolves once the server has answered each subscription (subscribed or refused). */
  readonly ready: Promise<void>;
  /** The last cursor the server sent. */
  readonly cursor: string | undefined;
  on(name: 'event', listener: (received: ReceivedEvent) => void): this;
  on(name: 'subscribed' | 'refused', listener: (message: Record<string, unknown>) => void): this;
  on(name: 'closed', listener: (close: { code: number; reason?: string; retryInMs: number }) => void): this;
  on(name: 'gave-up', listener: (error: Error) => void): this;
  /** Closes for good (1000); resolves once the socket is closed. */
  close(): Promise<void>;
}
