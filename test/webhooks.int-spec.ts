import { randomBytes } from 'node:crypto';
import type { LiveEvent } from '../scripts/kit.mjs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ChildService, startChildService } from './support/child-service.js';
import { inParallel } from './support/race-kit.js';
import {
  asAdmin,
  asClient,
  courseEvents,
  eventually,
  http,
  metricValue,
  newCourse,
  newRequest,
  useWorld,
  waitForDecision,
} from './support/test-app.js';
import { orderViolations, type ReceivedCall, WebhookReceiver } from './support/webhook-receiver.js';

/**
 * Webhooks (contract v3) against real processes: the API in this process (ROLE=api), worker processes
 * (the built service, ROLE=worker) that deliver, and a real HTTP receiver here that checks each
 * signature as an integrator would. Retry delays are capped at 2 s here (WEBHOOK_RETRY_MAX_MS; the
 * contract's cap is a minute) so a recovery shows within seconds.
 */
describe('webhooks', () => {
  const workers: ChildService[] = [];
  const startWorker = async () => {
    const worker = await startChildService({
      ...ctx.world.env,
      ROLE: 'worker',
      WORKER_CONCURRENCY: '4',
      WEBHOOK_RETRY_MAX_MS: '2000',
    });
    workers.push(worker);
    return worker;
  };
  afterAll(async () => {
    for (const worker of workers) worker.process.kill('SIGKILL');
    await Promise.all(workers.map((worker) => worker.exited));
  });
  const ctx = useWorld({ appEnv: { ROLE: 'api' } });
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = asAdmin) =>
    http(ctx.baseUrl, method, path, body, headers);
  const receivers: WebhookReceiver[] = [];
  afterAll(() => Promise.all(receivers.map((receiver) => receiver.stop())));

  beforeAll(async () => {
    await startWorker();
    await startWorker();
  });

  const secret = () => `whsec-${randomBytes(12).toString('hex')}`;

  async function receiver(behaviour?: ConstructorParameters<typeof WebhookReceiver>[1]) {
    const made = new WebhookReceiver(secret(), behaviour);
    await made.start();
    receivers.push(made);
    return made;
  }

  async function register(target: WebhookReceiver, fields: Record<string, unknown> = {}): Promise<string> {
    const created = await call('POST', '/admin/webhooks', {
      url: target.url,
      secret: target.secret,
      events: ['*'],
      ...fields,
    });
    expect(created.status).toBe(201);
    return created.body.id as string;
  }

  /** Each course's record, as REST has it: the events a webhook selecting everything must deliver. */
  async function records(courseIds: readonly number[]) {
    const byCourse = new Map<number, LiveEvent[]>();
    for (const courseId of courseIds) byCourse.set(courseId, await courseEvents(ctx.baseUrl, courseId));
    return byCourse;
  }

  /** Waits until every event of the courses, after `fromSeq` per course, was answered 2xx at least once. */
  async function allDelivered(target: WebhookReceiver, courseIds: readonly number[], timeoutMs = 90_000) {
    return eventually(
      async () => {
        const byCourse = await records(courseIds);
        const delivered = new Set(
          target
            .of(courseIds)
            .filter((one) => one.status !== undefined && one.status < 300)
            .map((one) => one.eventId),
        );
        const missing = [...byCourse.values()].flat().filter((event) => !delivered.has(String(event.id)));
        return missing.length === 0 ? byCourse : undefined;
      },
      timeoutMs,
      `every event of courses ${courseIds.join(', ')} delivered`,
    );
  }

  const seqsOf = (byCourse: Map<number, LiveEvent[]>) =>
    new Map(
      [...byCourse].map(([courseId, events]) => [courseId, events.map((event) => Number(event.cursor))]),
    );

  const duplicates = (calls: readonly ReceivedCall[]) => {
    const seen = new Map<string, number>();
    for (const one of calls) seen.set(one.eventId, (seen.get(one.eventId) ?? 0) + 1);
    return [...seen.values()].filter((n) => n > 1).length;
  };

  async function metricsOf(service: ChildService): Promise<string> {
    const answer = await fetch(`${service.baseUrl}/metrics`, { headers: asClient });
    return answer.text();
  }

  /** A counter summed over the worker processes (each counts its own tries). */
  const overWorkers = async (series: string) =>
    (await Promise.all(workers.map(async (worker) => metricValue(await metricsOf(worker), series)))).reduce(
      (sum, value) => sum + value,
      0,
    );

  it('delivers a stampede of 500 requests, drops and promotions: signed, each course in commit order, as REST has them', async () => {
    // Every tenth call answered 500: each is retried, and nothing behind it in its course goes first.
    const target = await receiver((n) => ({ status: n % 10 === 0 ? 500 : 200 }));
    const webhookId = await register(target);
    const courseIds = await Promise.all(Array.from({ length: 5 }, () => newCourse(ctx.baseUrl, 20)));
    const requests = courseIds.flatMap((courseId) => Array.from({ length: 100 }, () => newRequest(courseId)));
    const answers = await inParallel(requests, 100, (request) =>
      http(ctx.baseUrl, 'POST', '/enroll', request),
    );
    expect(answers.every((answer) => answer.status === 202)).toBe(true);
    const decided = await Promise.all(
      requests.map((request) => waitForDecision(ctx.baseUrl, request.idempotency_key)),
    );
    // Drops: five enrolled per course leave, and the waitlist heads are promoted in the same commits.
    const leaving = decided.filter((one) => one.body.status === 'enrolled').filter((_, i) => i % 4 === 0);
    expect(leaving.length).toBeGreaterThanOrEqual(20);
    await inParallel(leaving, 20, async (one) => {
      expect((await call('DELETE', `/enrollments/${one.body.idempotency_key}`, undefined, {})).status).toBe(
        200,
      );
    });

    const byCourse = await allDelivered(target, courseIds);
    const events = [...byCourse.values()].flat();
    const types = new Set(events.map((event) => event.type));
    expect([...types].sort()).toEqual(['dropped', 'enrolled', 'promoted', 'waitlisted']);
    expect(events.length).toBe(500 + leaving.length * 2);

    const calls = target.of(courseIds);
    expect(calls.every((one) => one.signatureValid)).toBe(true);
    expect(calls.every((one) => one.webhookId === webhookId)).toBe(true);
    expect(orderViolations(calls, seqsOf(byCourse))).toEqual([]);
    // The body's event is the REST event, id and all (the cursor is the course's own there too).
    const restById = new Map(events.map((event) => [String(event.id), event]));
    for (const one of calls) expect(one.body.event).toEqual(restById.get(one.eventId));
    // The 500s were retried: more calls than events, every event delivered once with a 2xx.
    const delivered = calls.filter((one) => one.status === 200);
    expect(new Set(delivered.map((one) => one.eventId)).size).toBe(events.length);
    expect(delivered.length).toBe(events.length);
    expect(calls.length).toBeGreaterThan(events.length);
    expect(calls.filter((one) => one.status === 500).length).toBeGreaterThan(0);
    await call('DELETE', `/admin/webhooks/${webhookId}`);
  }, 240_000);

  it('holds the events while the receiver is down for 60 s, then delivers them all, in order, once each', async () => {
    const target = await receiver();
    const webhookId = await register(target);
    const courseIds = await Promise.all(Array.from({ length: 3 }, () => newCourse(ctx.baseUrl, 5)));
    await target.stop();
    const downAt = Date.now();
    const requests = courseIds.flatMap((courseId) => Array.from({ length: 10 }, () => newRequest(courseId)));
    await inParallel(requests, 10, (request) => http(ctx.baseUrl, 'POST', '/enroll', request));
    await Promise.all(requests.map((request) => waitForDecision(ctx.baseUrl, request.idempotency_key)));

    // While it is down, every course's next event is failing with the connection refused; the rest pend.
    const failing = await eventually(
      async () => {
        const listed = await call('GET', `/admin/webhooks/${webhookId}/deliveries?state=failing`);
        return listed.body.length === 3 && listed.body.every((one: { attempts: number }) => one.attempts >= 2)
          ? listed.body
          : undefined;
      },
      30_000,
      'three failing courses',
    );
    for (const one of failing) {
      expect(one.last_error).toMatch(/ECONNREFUSED/);
      expect(Date.parse(one.next_attempt_at)).toBeGreaterThan(Date.parse(one.event.at));
    }
    const pending = await call('GET', `/admin/webhooks/${webhookId}/deliveries?state=pending`);
    expect(pending.body.length).toBe(30 - 3);
    expect(
      pending.body.every(
        (one: { attempts: number; last_error: null }) => one.attempts === 0 && one.last_error === null,
      ),
    ).toBe(true);
    const all = await call('GET', `/admin/webhooks/${webhookId}/deliveries?limit=5`);
    expect(all.body.length).toBe(5);
    expect(all.body.slice(0, 3).every((one: { attempts: number }) => one.attempts > 0)).toBe(true);

    await sleep(Math.max(0, 60_000 - (Date.now() - downAt)));
    const failingSeconds = metricValue(
      await metricsOf(workers[0]),
      `courseflow_webhook_failing_seconds{webhook_id="${webhookId}"}`,
    );
    expect(failingSeconds).toBeGreaterThan(40);
    await target.start();
    const byCourse = await allDelivered(target, courseIds, 30_000);
    expect(orderViolations(target.calls, seqsOf(byCourse))).toEqual([]);
    // The receiver answered every call it got with a 2xx: at least once needs no duplicate here.
    expect(duplicates(target.calls)).toBe(0);
    expect(target.calls.length).toBe(30);
    expect((await call('GET', `/admin/webhooks/${webhookId}/deliveries`)).body).toEqual([]);
    await eventually(
      async () => {
        const text = await metricsOf(workers[0]);
        return metricValue(text, `courseflow_webhook_failing_seconds{webhook_id="${webhookId}"}`) === 0
          ? true
          : undefined;
      },
      10_000,
      'the failing gauge back to 0',
    );
    await call('DELETE', `/admin/webhooks/${webhookId}`);
  }, 240_000);

  it('skips nothing when the delivering processes are killed (kill -9) mid-stream', async () => {
    // A slow receiver (150 ms a call), so the stream is still flowing when the workers die.
    const target = await receiver(() => ({ status: 200, delayMs: 150 }));
    const webhookId = await register(target);
    const courseIds = await Promise.all(Array.from({ length: 4 }, () => newCourse(ctx.baseUrl, 10)));
    const requests = courseIds.flatMap((courseId) => Array.from({ length: 50 }, () => newRequest(courseId)));
    await inParallel(requests, 50, (request) => http(ctx.baseUrl, 'POST', '/enroll', request));
    await eventually(
      async () => (target.calls.length >= 20 ? true : undefined),
      60_000,
      'the stream under way',
    );
    for (const worker of workers.splice(0)) worker.process.kill('SIGKILL');
    const atKill = target.calls.length;
    await startWorker();
    await startWorker();
    await Promise.all(requests.map((request) => waitForDecision(ctx.baseUrl, request.idempotency_key)));
    const byCourse = await allDelivered(target, courseIds, 120_000);
    expect(atKill).toBeLessThan(200);
    expect(orderViolations(target.calls, seqsOf(byCourse))).toEqual([]);
    expect(target.calls.every((one) => one.signatureValid)).toBe(true);
    // At least once: an event in flight at the kill may come again, and the one before it if its cursor
    // write was still in flight (two per course at most).
    expect(duplicates(target.calls)).toBeLessThanOrEqual(2 * courseIds.length);
    await call('DELETE', `/admin/webhooks/${webhookId}`);
  }, 240_000);

  it('shows a receiver answering 500 in its deliveries and the metric, times out a slow one, and holds up no other webhook', async () => {
    const broken = await receiver(() => ({ status: 500 }));
    // The first call waits past the 10 s limit: a timeout, tried again, then delivered.
    const slow = await receiver((n) => ({ status: 200, delayMs: n === 1 ? 11_000 : 0 }));
    const healthy = await receiver();
    const courseId = await newCourse(ctx.baseUrl, 2);
    const brokenId = await register(broken, { course_id: courseId });
    const slowId = await register(slow, { course_id: courseId, events: ['enrolled'] });
    const healthyId = await register(healthy, { course_id: courseId, events: ['enrolled', 'waitlisted'] });
    const requests = Array.from({ length: 4 }, () => newRequest(courseId));
    for (const request of requests)
      expect((await http(ctx.baseUrl, 'POST', '/enroll', request)).status).toBe(202);
    await Promise.all(requests.map((request) => waitForDecision(ctx.baseUrl, request.idempotency_key)));

    // The healthy webhook has everything it selects while the broken one has nothing.
    await allDelivered(healthy, [courseId], 20_000);
    expect(healthy.calls.map((one) => one.type)).toEqual([
      'enrolled',
      'enrolled',
      'waitlisted',
      'waitlisted',
    ]);
    const failing = await eventually(
      async () => {
        const listed = await call('GET', `/admin/webhooks/${brokenId}/deliveries`);
        return listed.body[0]?.attempts >= 3 ? listed.body : undefined;
      },
      30_000,
      'the broken webhook failing three times',
    );
    expect(failing.map((one: { event: { cursor: string } }) => one.event.cursor)).toEqual([
      '1',
      '2',
      '3',
      '4',
    ]);
    expect(failing[0]).toMatchObject({ last_error: 'HTTP 500 Internal Server Error' });
    expect(failing.slice(1).every((one: { attempts: number }) => one.attempts === 0)).toBe(true);
    expect(broken.calls.every((one) => one.seq === 1)).toBe(true);
    expect(
      await overWorkers('courseflow_webhook_deliveries_total{result="rejected"}'),
    ).toBeGreaterThanOrEqual(3);
    const gauge = `courseflow_webhook_failing_seconds{webhook_id="${brokenId}"}`;
    expect(metricValue(await metricsOf(workers[0]), gauge)).toBeGreaterThan(0);

    // The slow receiver's first try timed out and came again; only enrolled events were sent to it.
    await eventually(
      async () => (slow.calls.filter((one) => one.status === 200).length >= 2 ? true : undefined),
      40_000,
      'the slow receiver served',
    );
    // Its two enrolled events: the first one twice (no answer within 10 s, then delivered), in order.
    expect(slow.calls.map((one) => [one.type, one.seq, one.status])).toEqual([
      ['enrolled', 1, undefined],
      ['enrolled', 1, 200],
      ['enrolled', 2, 200],
    ]);
    expect(await overWorkers('courseflow_webhook_deliveries_total{result="timeout"}')).toBeGreaterThanOrEqual(
      1,
    );

    // Removed: nothing more is tried, and it leaves the list and the gauge.
    expect((await call('DELETE', `/admin/webhooks/${brokenId}`)).status).toBe(204);
    const calls = broken.calls.length;
    await sleep(3000);
    expect(broken.calls.length).toBeLessThanOrEqual(calls + 1);
    expect((await call('GET', `/admin/webhooks/${brokenId}/deliveries`)).status).toBe(404);
    const listed = await call('GET', '/admin/webhooks');
    expect(listed.body.map((one: { id: string }) => one.id)).not.toContain(brokenId);
    await call('DELETE', `/admin/webhooks/${slowId}`);
    await call('DELETE', `/admin/webhooks/${healthyId}`);
  }, 120_000);

  it('delivers only events committed after registration, and never shows the secret', async () => {
    const target = await receiver();
    const courseId = await newCourse(ctx.baseUrl, 5);
    const early = newRequest(courseId);
    await http(ctx.baseUrl, 'POST', '/enroll', early);
    await waitForDecision(ctx.baseUrl, early.idempotency_key);
    const webhookId = await register(target, { course_id: courseId });
    const late = newRequest(courseId);
    await http(ctx.baseUrl, 'POST', '/enroll', late);
    await waitForDecision(ctx.baseUrl, late.idempotency_key);
    await eventually(async () => (target.calls.length >= 1 ? true : undefined), 20_000, 'one delivery');
    await sleep(1000);
    expect(target.calls.map((one) => one.body.event.idempotency_key)).toEqual([late.idempotency_key]);
    expect(target.calls[0].headers['courseflow-event-id']).toBe(target.calls[0].eventId);
    expect(target.calls[0].headers['content-type']).toBe('application/json');
    const listed = await call('GET', '/admin/webhooks');
    expect(JSON.stringify(listed.body)).not.toMatch(/whsec-/);
    expect(listed.body.find((one: { id: string }) => one.id === webhookId)).toMatchObject({
      url: target.url,
      events: ['*'],
      course_id: courseId,
    });
    await call('DELETE', `/admin/webhooks/${webhookId}`);
  }, 60_000);

  it('refuses bad registrations with a 4xx naming the field', async () => {
    const good = { url: 'https://sis.example.edu/hook', secret: 'a-secret-of-16-chars', events: ['*'] };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...good, url: 'ftp://sis.example.edu/hook' }, /^url /],
      [{ ...good, url: 'http://' }, /^url /],
      [{ ...good, url: 'http://1.2.3.400/' }, /^url /],
      [{ ...good, url: 'sis.example.edu/hook' }, /^url /],
      [{ ...good, url: 42 }, /url/],
      [{ ...good, secret: 'too-short' }, /^secret /],
      [{ ...good, secret: 'x'.repeat(257) }, /^secret /],
      [{ ...good, secret: 'sixteen chars but spaces' }, /^secret /],
      [{ ...good, events: ['enroled'] }, /events/],
      [{ ...good, events: [] }, /events/],
      [{ ...good, events: ['enrolled', 'enrolled'] }, /events/],
      [{ ...good, events: 'enrolled' }, /events/],
      [{ ...good, course_id: 0 }, /course_id/],
      [{ ...good, course_id: '7' }, /course_id/],
      [{ ...good, colour: 'red' }, /colour/],
      [{ url: good.url, events: good.events }, /secret/],
    ];
    for (const [body, field] of cases) {
      const answer = await call('POST', '/admin/webhooks', body);
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
      expect(answer.body.details.join('; ')).toMatch(field);
    }
    expect((await call('POST', '/admin/webhooks', { ...good, course_id: 2_000_000_000 })).status).toBe(404);
    expect((await call('POST', '/admin/webhooks', good, {})).status).toBe(401);
    expect((await call('GET', '/admin/webhooks', undefined, {})).status).toBe(401);
    expect((await call('DELETE', '/admin/webhooks/999999')).status).toBe(404);
    expect((await call('DELETE', '/admin/webhooks/007')).status).toBe(404);
    expect((await call('GET', '/admin/webhooks/999999/deliveries')).status).toBe(404);
    const created = await call('POST', '/admin/webhooks', good);
    expect(created.status).toBe(201);
    expect(created.body).not.toHaveProperty('secret');
    for (const query of ['state=broken', 'limit=0', 'limit=1001', 'limit=1e2']) {
      expect((await call('GET', `/admin/webhooks/${created.body.id}/deliveries?${query}`)).status).toBe(400);
    }
    expect((await call('DELETE', `/admin/webhooks/${created.body.id}`)).status).toBe(204);
    expect((await call('DELETE', `/admin/webhooks/${created.body.id}`)).status).toBe(404);
  });
});
