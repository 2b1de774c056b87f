import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifySignature } from '../../src/webhooks/signature.js';

/** One call the receiver got, in arrival order. */
export interface ReceivedCall {
  /** Arrival order (one counter for arrivals and answers, so "answered before it arrived" is decidable). */
  arrived: number;
  /** When the answer went out (the same counter); undefined while it has not. */
  answered?: number;
  status?: number;
  signatureValid: boolean;
  webhookId: string;
  eventId: string;
  courseId: number;
  seq: number;
  type: string;
  body: { webhook_id: string; event: Record<string, unknown> };
  headers: Record<string, string | string[] | undefined>;
}

/** How the receiver answers the n-th call (1-based): a status, after a delay. */
export type Behaviour = (n: number, call: ReceivedCall) => { status: number; delayMs?: number };

/**
 * A webhook receiver as an integrator writes one: node:http, the signature checked over the raw body
 * (with the README's rule: HMAC-SHA256(secret, "<t>.<raw body>"), t within 5 minutes), every call kept.
 */
export class WebhookReceiver {
  readonly calls: ReceivedCall[] = [];
  private clock = 0;
  private server?: Server;
  private port = 0;

  constructor(
    readonly secret: string,
    public behaviour: Behaviour = () => ({ status: 204 }),
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/courseflow`;
  }

  /** Listens (on the same port as before, after a stop: a receiver coming back). */
  async start(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on(
        'end',
        () => void this.answer(request.headers, Buffer.concat(chunks).toString('utf8'), response),
      );
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Stops listening and drops open connections: from now on, a try finds nobody (ECONNREFUSED). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async answer(
    headers: Record<string, string | string[] | undefined>,
    raw: string,
    response: import('node:http').ServerResponse,
  ): Promise<void> {
    const body = JSON.parse(raw) as ReceivedCall['body'];
    const call: ReceivedCall = {
      arrived: ++this.clock,
      signatureValid: verifySignature(
        this.secret,
        raw,
        headers['courseflow-signature'] as string | undefined,
      ),
      webhookId: body.webhook_id,
      eventId: String(body.event.id),
      courseId: Number(body.event.course_id),
      seq: Number(body.event.cursor),
      type: String(body.event.type),
      body,
      headers,
    };
    this.calls.push(call);
    const { status, delayMs = 0 } = this.behaviour(this.calls.length, call);
    if (delayMs > 0) await sleep(delayMs);
    if (response.destroyed) return;
    response.writeHead(status).end();
    call.status = status;
    call.answered = ++this.clock;
  }

  /** The calls for these courses. */
  of(courseIds: readonly number[]): ReceivedCall[] {
    return this.calls.filter((call) => courseIds.includes(call.courseId));
  }
}

/**
 * The contract's order per course: no event was sent before every earlier event of its course (that the
 * webhook selects) had been answered 2xx. `expected` is each course's selected event seqs, from the record.
 * Returns the violations, described.
 */
export function orderViolations(calls: readonly ReceivedCall[], expected: Map<number, number[]>): string[] {
  const firstDelivered = new Map<string, number>();
  for (const call of calls) {
    if (call.answered === undefined || call.status! < 200 || call.status! >= 300) continue;
    const key = `${call.courseId}:${call.seq}`;
    firstDelivered.set(key, Math.min(firstDelivered.get(key) ?? Infinity, call.answered));
  }
  const violations: string[] = [];
  for (const call of calls) {
    for (const seq of expected.get(call.courseId) ?? []) {
      if (seq >= call.seq) break;
      const delivered = firstDelivered.get(`${call.courseId}:${seq}`);
      if (delivered === undefined || delivered > call.arrived) {
        violations.push(`course ${call.courseId}: event ${call.seq} sent before event ${seq} was delivered`);
        break;
      }
    }
  }
  return violations;
}
