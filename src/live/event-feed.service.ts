import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { EventsService } from '../events/events.service.js';
import {
  inCommitOrder,
  type LiveEvent,
  liveEvent,
  type Subscription,
  type SubscriptionConnection,
} from './subscription.js';

/** The notification channel the record's triggers signal on (see the LiveEvents migration). */
const CHANNEL = 'course_events';
/** Most events read per course at once, by the feed and by a replay. */
const PAGE = 1000;
const RETRY_MS = 1000;
const PROBE_MS = 15_000;
const PROBE_TIMEOUT_MS = 5000;

/** What a notification said of a course: the numbers its transaction wrote. */
interface Written {
  from: number;
  upTo: number;
  /** Read all of the course's new events, not only the followed students' (see drain). */
  whole?: boolean;
}

/**
 * Brings every process the events written by any process. Each transaction that appends to the record
 * notifies PostgreSQL channel course_events (a trigger, inside the transaction: delivered on commit, never
 * for a rollback, in commit order); this process LISTENs on its own connection, and on a notification
 * reads the new events of those courses from the record once, after the last number it read, and hands
 * each to the subscriptions that select it. A notification only wakes the reader: the events come from
 * the record, so a wake-up lost with the connection delays events but never loses them (on reconnect
 * every subscription catches up from its own position).
 */
@Injectable()
export class EventFeed implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(EventFeed.name);
  private readonly readUpTo = new Map<number, number>();
  private readonly pending = new Map<number, Written>();
  private readonly byCourse = new Map<number, Set<Subscription>>();
  private readonly byStudent = new Map<string, Set<Subscription>>();
  private readonly byRequest = new Map<string, Set<Subscription>>();
  private client: pg.Client | undefined;
  private listening = false;
  private draining = false;
  private stopped = false;
  /** Counts follow() calls, so a filtered read can tell that someone subscribed while it ran. */
  private subscriptionsMade = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(EventsService) private readonly events: EventsService,
  ) {}

  onApplicationBootstrap(): void {
    void this.listen();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await this.client?.end().catch(() => undefined);
  }

  /** Starts a subscription: it replays from its position, then receives what is written, in order. */
  follow(subscription: Subscription): void {
    this.subscriptionsMade += 1;
    this.index(subscription).add(subscription);
    void this.catchUp(subscription);
  }

  stopFollowing(subscription: Subscription): void {
    subscription.active = false;
    const index = this.index(subscription);
    index.delete(subscription);
    if (index.size === 0) this.forgetIndex(subscription);
  }

  private index(subscription: Subscription): Set<Subscription> {
    const { selector } = subscription;
    const [map, key] =
      selector.kind === 'course'
        ? [this.byCourse as Map<number | string, Set<Subscription>>, selector.courseId]
        : selector.kind === 'student'
          ? [this.byStudent as Map<number | string, Set<Subscription>>, selector.studentId]
          : [this.byRequest as Map<number | string, Set<Subscription>>, selector.idempotencyKey];
    let set = map.get(key);
    if (set === undefined) {
      set = new Set();
      map.set(key, set);
    }
    return set;
  }

  private forgetIndex({ selector }: Subscription): void {
    if (selector.kind === 'course') this.byCourse.delete(selector.courseId);
    else if (selector.kind === 'student') this.byStudent.delete(selector.studentId);
    else this.byRequest.delete(selector.idempotencyKey);
  }

  /** Listens for as long as the process runs, reconnecting after a lost connection. */
  private async listen(): Promise<void> {
    while (!this.stopped) {
      const client = new pg.Client({
        connectionString: this.config.databaseUrl,
        application_name: 'courseflow-live',
        keepAlive: true,
      });
      let markLost: (why: unknown) => void = () => undefined;
      const lost = new Promise<unknown>((resolve) => {
        markLost = resolve;
        client.on('error', resolve);
        client.on('end', () => resolve('ended'));
      });
      // A connection that died without a word (a half-open TCP connection) hears nothing: probe it.
      const probe = setInterval(
        () =>
          void Promise.race([
            client.query('SELECT 1'),
            sleep(PROBE_TIMEOUT_MS, undefined, { ref: false }).then(() =>
              Promise.reject(new Error('no answer')),
            ),
          ]).catch(markLost),
        PROBE_MS,
      );
      try {
        await client.connect();
        client.on('notification', (message) => this.notified(message.payload ?? ''));
        await client.query(`LISTEN ${CHANNEL}`);
        this.client = client;
        this.listening = true;
        // Whatever was written while nobody listened is read by each subscription from its position.
        this.readUpTo.clear();
        this.pending.clear();
        this.catchUpAll();
        this.logger.log({ msg: 'listening for events' });
        const why = await lost;
        if (!this.stopped) this.logger.warn({ msg: 'lost the events connection', err: why });
      } catch (error) {
        if (!this.stopped) this.logger.warn({ msg: 'cannot listen for events yet', err: error });
      }
      clearInterval(probe);
      this.listening = false;
      this.client = undefined;
      await Promise.race([client.end().catch(() => undefined), sleep(RETRY_MS)]);
      if (!this.stopped) await sleep(RETRY_MS);
    }
  }

  private notified(payload: string): void {
    for (const range of payload.split(',')) {
      const [courseId, from, upTo] = range.split(':').map(Number);
      if (!Number.isInteger(courseId) || !Number.isInteger(from) || !Number.isInteger(upTo)) continue;
      this.announce(courseId, { from: from - 1, upTo });
    }
    void this.drain();
  }

  /** Notes that a course has events to read, merged with what is noted already. */
  private announce(courseId: number, written: Written): void {
    const known = this.pending.get(courseId);
    this.pending.set(courseId, {
      from: Math.min(known?.from ?? written.from, written.from),
      upTo: Math.max(known?.upTo ?? written.upTo, written.upTo),
      whole: known?.whole || written.whole,
    });
  }

  /** Reads what the notifications announced, one query for all the courses that have news. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.pending.size > 0 && this.listening) {
        // Courses someone here follows whole, and courses read only for the followed students and requests.
        const everything = new Map<number, number>();
        const selected = new Map<number, number>();
        const announced = new Map(this.pending);
        this.pending.clear();
        // Who is followed is decided now; a subscription made after this discards the filtered read.
        const subscriptionsBefore = this.subscriptionsMade;
        for (const [courseId, written] of announced) {
          const after = this.readUpTo.get(courseId) ?? written.from;
          if (written.upTo <= after) continue;
          if (this.byCourse.has(courseId) || written.whole) everything.set(courseId, after);
          else if (this.byStudent.size > 0 || this.byRequest.size > 0) selected.set(courseId, after);
          // Nobody here selects these: skip them (a later subscription replays from its own position).
          else if (Number.isFinite(written.upTo)) this.readUpTo.set(courseId, written.upTo);
          else this.readUpTo.delete(courseId);
        }
        const only = { studentIds: [...this.byStudent.keys()], idempotencyKeys: [...this.byRequest.keys()] };
        for (const [toRead, filter] of [
          [everything, undefined],
          [selected, only],
        ] as const) {
          if (toRead.size === 0) continue;
          let events: LiveEvent[];
          try {
            events = (await this.events.inCoursesAfter(toRead, PAGE, filter)).map(liveEvent);
          } catch (error) {
            this.logger.warn({ msg: 'cannot read new events; retrying', err: error });
            for (const [courseId, after] of toRead)
              this.announce(courseId, { from: after, upTo: announced.get(courseId)!.upTo });
            await sleep(RETRY_MS);
            continue;
          }
          if (filter !== undefined && this.subscriptionsMade !== subscriptionsBefore) {
            // Someone subscribed while the filtered read ran: what it left out may be theirs, and their
            // replay may not reach it. Read those courses again, whole this time.
            for (const [courseId, after] of toRead) {
              this.announce(courseId, { from: after, upTo: announced.get(courseId)!.upTo, whole: true });
            }
            continue;
          }
          const readPerCourse = new Map<number, number>();
          for (const event of events) {
            this.dispatch(event);
            this.readUpTo.set(event.courseId, event.seq);
            readPerCourse.set(event.courseId, (readPerCourse.get(event.courseId) ?? 0) + 1);
          }
          for (const courseId of toRead.keys()) {
            if (readPerCourse.get(courseId) === PAGE) {
              // A full page: there is more than one read holds; read on from where this one stopped.
              this.announce(courseId, { from: this.readUpTo.get(courseId)!, upTo: Infinity });
            } else if (filter !== undefined) {
              // A filtered read saw every selected event up to what was announced before it was made:
              // the others are nobody's here.
              const upTo = announced.get(courseId)!.upTo;
              const read = this.readUpTo.get(courseId) ?? toRead.get(courseId)!;
              if (Number.isFinite(upTo)) this.readUpTo.set(courseId, Math.max(read, upTo));
            }
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Hands an event to each subscription that selects it, once per connection. */
  private dispatch(event: LiveEvent): void {
    const selected: Subscription[] = [];
    const add = (set: Set<Subscription> | undefined) => set?.forEach((sub) => selected.push(sub));
    add(this.byCourse.get(event.courseId));
    if (event.body.student_id !== null) add(this.byStudent.get(event.body.student_id));
    if (event.body.idempotency_key !== null) add(this.byRequest.get(event.body.idempotency_key));
    if (selected.length === 0) return;
    const byConnection = new Map<SubscriptionConnection, Subscription[]>();
    for (const sub of selected) {
      if (!sub.live) {
        sub.hold(event);
        continue;
      }
      const list = byConnection.get(sub.connection);
      if (list === undefined) byConnection.set(sub.connection, [sub]);
      else list.push(sub);
    }
    for (const [connection, subs] of byConnection) connection.deliver(event, subs, true);
  }

  private catchUpAll(): void {
    for (const index of [this.byCourse, this.byStudent, this.byRequest] as Array<
      Map<unknown, Set<Subscription>>
    >) {
      for (const set of index.values()) {
        for (const sub of set) {
          if (sub.live) void this.catchUp(sub);
          else sub.replayAgain();
        }
      }
    }
  }

  /**
   * Replays the subscription's events after its position, page by page at the pace the client reads, then
   * sends what the feed handed it meanwhile and goes live. If it may have missed something (its buffer
   * overflowed, the feed reconnected), it replays again from its position instead.
   */
  private async catchUp(sub: Subscription): Promise<void> {
    sub.startReplay();
    while (sub.active && !sub.connection.closed) {
      let page: LiveEvent[];
      try {
        page = (await this.events.selectedAfter(sub.selector, sub.position, PAGE)).map(liveEvent);
      } catch (error) {
        this.logger.warn({ msg: 'cannot replay events; retrying', err: error });
        await sleep(RETRY_MS);
        continue;
      }
      for (const event of inCommitOrder(page)) {
        sub.connection.deliver(event, [sub], false);
        if (!(await sub.connection.drained())) return;
      }
      if (page.length === PAGE) continue;
      if (!this.listening) {
        // Nothing reaches the buffer while the feed is away; its reconnection replays once more.
        await sleep(RETRY_MS);
        continue;
      }
      const held = sub.goLive();
      if (held === undefined) continue;
      for (const event of held) sub.connection.deliver(event, [sub], true);
      return;
    }
  }
}
