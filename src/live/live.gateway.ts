import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type BeforeApplicationShutdown,
  Inject,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { bearerToken, clientTokenMatcher, operatorTokenMatcher } from '../auth/operator-token.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { EventsService } from '../events/events.service.js';
import { EventFeed } from './event-feed.service.js';
import { CLOSE, LiveConnection } from './live-connection.js';
import { decodeCursor, type Section } from './live-cursor.js';
import { type ClientMessage, parseClientMessage, selectorFields } from './live-message.js';
import { LiveMetrics } from './live-metrics.js';
import { sectionOf } from './subscription.js';

/** A subscribe message is a few hundred bytes; a bigger frame closes the connection (1009). */
export const MAX_MESSAGE_BYTES = 32 * 1024;
const GOODBYE_MS = 2000;

/**
 * /ws: live events for students (by student_id or idempotency_key) and operators (by course_id, with the
 * admin token). The protocol is plain WebSocket with JSON text frames (docs/guarantees.md §16); the events
 * come from EventFeed, whichever process wrote them.
 */
@WebSocketGateway({ path: '/ws', maxPayload: MAX_MESSAGE_BYTES })
export class LiveGateway
  implements OnGatewayConnection, OnGatewayInit, OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown
{
  private readonly logger = new Logger(LiveGateway.name);
  private readonly connections = new Set<LiveConnection>();
  private readonly isAdminToken: (presented: string) => boolean;
  /** Undefined when CLIENT_TOKENS is empty: students need no token. */
  private readonly isClientToken: ((presented: string) => boolean) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(EventFeed) private readonly feed: EventFeed,
    @Inject(EventsService) private readonly events: EventsService,
    @Inject(LiveMetrics) private readonly metrics: LiveMetrics,
  ) {
    this.isAdminToken = operatorTokenMatcher(config.adminToken);
    this.isClientToken = config.clientTokens.length === 0 ? undefined : clientTokenMatcher(config);
  }

  /** With CLIENT_TOKENS set, an upgrade request that carries a wrong bearer token is refused with 401. */
  afterInit(server: WebSocketServer): void {
    server.options.verifyClient = (
      info: { req: IncomingMessage },
      done: (verified: boolean, code?: number, message?: string) => void,
    ) => {
      const token = bearerToken(info.req.headers.authorization);
      const refused = this.isClientToken !== undefined && token !== undefined && !this.isClientToken(token);
      if (refused) done(false, 401, 'Unauthorized');
      else done(true);
    };
  }

  onModuleInit(): void {
    this.heartbeat = setInterval(() => this.beat(), this.config.live.heartbeatMs).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.heartbeat);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.goodbye();
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    if (this.stopping || this.connections.size >= this.config.live.maxConnections) {
      socket.close(CLOSE.tryAgainLater, this.stopping ? 'server shutting down' : 'too many connections');
      return;
    }
    const token = bearerToken(request.headers.authorization);
    const connection = new LiveConnection(
      socket,
      {
        operator: token !== undefined && this.isAdminToken(token),
        client: this.isClientToken === undefined || (token !== undefined && this.isClientToken(token)),
      },
      this.config.live,
      this.metrics,
    );
    this.connections.add(connection);
    this.metrics.connected(1);
    socket.on('pong', () => connection.pong());
    socket.on(
      'message',
      (data: RawData, isBinary: boolean) => void this.received(connection, data, isBinary),
    );
    socket.once('close', () => this.closed(connection));
  }

  /** Says goodbye to every client (1001, so it resumes on another process); resolves once they are gone. */
  async goodbye(): Promise<void> {
    this.stopping = true;
    for (const connection of this.connections) {
      connection.cut(CLOSE.goingAway, 'shutdown', 'server shutting down: resume with the last cursor');
    }
    const deadline = Date.now() + GOODBYE_MS;
    while (this.connections.size > 0 && Date.now() < deadline) {
      await sleep(20);
    }
  }

  private closed(connection: LiveConnection): void {
    for (const sub of connection.close()) this.feed.stopFollowing(sub);
    this.connections.delete(connection);
    this.metrics.connected(-1);
  }

  /** Drops the clients that did not answer the last ping, and pings the others. */
  private beat(): void {
    for (const connection of this.connections) connection.heartbeat();
  }

  private async received(connection: LiveConnection, data: RawData, isBinary: boolean): Promise<void> {
    if (isBinary) {
      connection.reply({ type: 'error', message: 'messages are JSON text frames' });
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      connection.reply({ type: 'error', message: 'a message must be JSON' });
      return;
    }
    const message = parseClientMessage(json);
    if (!('type' in message)) {
      connection.reply({ type: 'error', ...message });
      return;
    }
    try {
      if (message.type === 'subscribe') await this.subscribe(connection, message);
      else this.unsubscribe(connection, message);
    } catch (error) {
      this.logger.warn({ msg: 'subscription failed', err: error });
      connection.reply({
        type: 'error',
        message: 'events cannot be read right now (the database is unavailable); subscribe again shortly',
        ...selectorFields(message.selector),
      });
    }
  }

  private async subscribe(connection: LiveConnection, message: ClientMessage): Promise<void> {
    const { selector } = message;
    const refuse = (text: string, field?: string) =>
      connection.reply({
        type: 'error',
        message: text,
        ...(field ? { field } : {}),
        ...selectorFields(selector),
      });
    if (
      this.isClientToken !== undefined &&
      !connection.byHeader.client &&
      !(message.token !== undefined && this.isClientToken(message.token))
    ) {
      return refuse(
        'a client token is required: send it as "token", or as a bearer token on the upgrade request',
        'token',
      );
    }
    if (
      selector.kind === 'course' &&
      !connection.byHeader.operator &&
      !(message.token !== undefined && this.isAdminToken(message.token))
    ) {
      return refuse(
        'a course subscription is for operators: send the admin token as "token", or as a bearer token on the upgrade request',
        'token',
      );
    }
    let start: Section | undefined;
    if (message.after !== undefined) {
      const sections = decodeCursor(
        message.after,
        selector.kind === 'course' ? selector.courseId : undefined,
      );
      if (sections === undefined) return refuse('after must be a cursor this service sent', 'after');
      // A cursor without this subscription's section: everything it selects is after it.
      start = sections.get(sectionOf(selector)) ?? { positions: new Map(), ahead: new Map() };
    }
    const heads =
      selector.kind === 'course' || start === undefined
        ? await this.events.selectedHeads(selector)
        : undefined;
    if (selector.kind === 'course' && heads?.size === 0) {
      return refuse(`course_id ${selector.courseId} does not exist`, 'course_id');
    }
    // subscribe checks the connection after the read: two subscribes can race on one connection.
    const subscription = connection.subscribe(selector, start ?? { positions: heads!, ahead: new Map() });
    if (subscription === 'closed') return;
    if (subscription === 'duplicate') return refuse('already subscribed');
    if (subscription === 'full') {
      return refuse(`a connection holds at most ${this.config.live.maxSubscriptions} subscriptions`);
    }
    connection.reply({ type: 'subscribed', ...selectorFields(selector), cursor: connection.cursor });
    this.feed.follow(subscription);
  }

  private unsubscribe(connection: LiveConnection, { selector }: ClientMessage): void {
    const subscription = connection.unsubscribe(selector);
    if (subscription === undefined) {
      connection.reply({ type: 'error', message: 'not subscribed', ...selectorFields(selector) });
      return;
    }
    this.feed.stopFollowing(subscription);
    connection.reply({ type: 'unsubscribed', ...selectorFields(selector), cursor: connection.cursor });
  }
}
