import WebSocket from 'ws';
import type { LiveEvent } from '../../scripts/kit.mjs';
import { asClient, eventually } from './test-app.js';

/** An event as /ws sends it: the kit's type, shared with the demo and the bench. */
export type LiveEventFrame = LiveEvent;

/** A /ws client that keeps every frame it receives, with the time it arrived. */
export interface LiveClient {
  socket: WebSocket;
  frames: Array<Record<string, any>>;
  events: Array<LiveEventFrame & { receivedAt: number }>;
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  /** The next frame of this type after the ones seen so far (an error, subscribed, unsubscribed). */
  reply(type: string, after?: number): Promise<Record<string, any>>;
  /** Resolves once `count` events have arrived in all. */
  untilEvents(count: number, timeoutMs?: number): Promise<LiveClient['events']>;
  lastCursor(): string | undefined;
  close(): Promise<void>;
}

export async function connectLive(
  baseUrl: string,
  options: { headers?: Record<string, string>; autoPong?: boolean } = {},
): Promise<LiveClient> {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws`, {
    // Like the portal, with a client token on the upgrade request unless the test says otherwise.
    headers: options.headers ?? asClient,
    autoPong: options.autoPong ?? true,
  });
  const frames: LiveClient['frames'] = [];
  const events: LiveClient['events'] = [];
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    frames.push(frame);
    if (frame.type === 'event') events.push({ ...frame.event, receivedAt: Date.now() });
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const client: LiveClient = {
    socket,
    frames,
    events,
    closed,
    send: (message) => socket.send(typeof message === 'string' ? message : JSON.stringify(message)),
    reply: (type, after = 0) =>
      eventually(
        async () => frames.slice(after).find((frame) => frame.type === type),
        10_000,
        `a ${type} frame`,
      ),
    untilEvents: (count, timeoutMs = 20_000) =>
      eventually(
        async () => (events.length >= count ? events : undefined),
        timeoutMs,
        `${count} events (have ${events.length})`,
      ),
    lastCursor: () => {
      for (let i = frames.length - 1; i >= 0; i -= 1) {
        const cursor = frames[i].type === 'event' ? frames[i].event.cursor : frames[i].cursor;
        if (cursor !== undefined) return cursor as string;
      }
      return undefined;
    },
    close: async () => {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close();
      await closed;
    },
  };
  return client;
}

/** Subscribes and waits for the answer (subscribed or error). */
export async function subscribe(
  client: LiveClient,
  message: Record<string, unknown>,
): Promise<Record<string, any>> {
  const seen = client.frames.length;
  client.send({ type: 'subscribe', ...message });
  return eventually(
    async () =>
      client.frames.slice(seen).find((frame) => frame.type === 'subscribed' || frame.type === 'error'),
    10_000,
    'the answer to a subscribe',
  );
}
