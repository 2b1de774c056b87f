import { IDEMPOTENCY_KEY_PATTERN, STUDENT_ID_PATTERN } from '../src/decisions/vocabulary.js';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { Ajv } from 'ajv';
import { EVENT_TYPES } from '../src/events/dto/course-event.response.js';
import { connectLive, subscribe } from './support/live-client.js';
import { ADMIN_TOKEN, asAdmin, http, newCourse, useWorld } from './support/test-app.js';

const CLIENT_FRAMES = ['subscribe', 'unsubscribe'];
const SERVER_FRAMES = ['subscribed', 'unsubscribed', 'event', 'error'];

/** The messages an operation names, by their keys in the channel. */
const messagesOf = (operation: { messages: Array<{ $ref: string }> }) =>
  operation.messages.map(({ $ref }) => $ref.split('/').pop());

describe('the AsyncAPI document of /ws', () => {
  const ctx = useWorld();
  let document: any;

  beforeAll(async () => {
    // Closed after each answer: a kept-alive socket the server drops while the parser below holds this
    // process (about 5 s) would reset the next request.
    const served = await fetch(`${ctx.baseUrl}/docs/asyncapi.json`, { headers: { connection: 'close' } });
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toMatch(/^application\/json/);
    document = await served.json();
  });

  it('is served beside Swagger UI, which still answers, and stays out of the OpenAPI document', async () => {
    const ui = await fetch(`${ctx.baseUrl}/docs`, { headers: { connection: 'close' } });
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger');
    const openApi = await http(ctx.baseUrl, 'GET', '/docs-json');
    expect(Object.keys(openApi.body.paths)).not.toContain('/docs/asyncapi.json');
    expect(openApi.body.info.description).toContain('/docs/asyncapi.json');
  });

  it('is a valid AsyncAPI 3.0.0 document', async () => {
    const { diagnostics } = await new Parser().parse(document);
    const problems = diagnostics.filter(({ severity }) => severity <= DiagnosticSeverity.Warning);
    // The whole diagnostic (code, path, message) shows in the diff when this fails.
    expect(problems).toEqual([]);
    expect(document.asyncapi).toBe('3.0.0');
  });

  it('has a message per frame, received by the server from clients and sent by it to them', () => {
    expect(Object.values(document.servers)).toEqual([
      expect.objectContaining({ protocol: 'ws', host: '{host}' }),
    ]);
    expect(document.channels.live.address).toBe('/ws');
    expect(Object.keys(document.channels.live.messages).sort()).toEqual(
      [...CLIENT_FRAMES, ...SERVER_FRAMES].sort(),
    );
    const byAction = (action: string) =>
      Object.values<any>(document.operations)
        .filter((operation) => operation.action === action)
        .flatMap(messagesOf)
        .sort();
    expect(byAction('receive')).toEqual([...CLIENT_FRAMES].sort());
    expect(byAction('send')).toEqual([...SERVER_FRAMES].sort());
  });

  it('states the field rules the server enforces', () => {
    const { messages, schemas } = document.components;
    for (const name of ['subscribe', 'unsubscribe', 'subscribed', 'unsubscribed', 'error']) {
      expect(messages[name].payload.properties.student_id.pattern).toBe(STUDENT_ID_PATTERN.source);
      expect(messages[name].payload.properties.idempotency_key.pattern).toBe(IDEMPOTENCY_KEY_PATTERN.source);
    }
    expect(schemas.courseEvent.properties.type.enum).toEqual(EVENT_TYPES);
    expect(document.components.securitySchemes.adminToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(document.components.securitySchemes.clientToken).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('describes the frames the server really exchanges', async () => {
    const parsed = await new Parser().parse(document);
    const { messages } = parsed.document!.json().components!;
    const ajv = new Ajv({ strict: false, formats: { 'date-time': (at: string) => !isNaN(Date.parse(at)) } });
    const check = (name: string, frame: unknown) => {
      const valid = ajv.validate((messages![name] as any).payload, frame);
      return valid ? 'valid' : { name, frame, errors: ajv.errors };
    };

    const courseId = await newCourse(ctx.baseUrl, 1);
    const live = await connectLive(ctx.baseUrl);
    try {
      const subscribeFrame = { type: 'subscribe', course_id: courseId, token: ADMIN_TOKEN, after: '0' };
      expect(check('subscribe', subscribeFrame)).toBe('valid');
      expect(check('subscribed', await subscribe(live, subscribeFrame))).toBe('valid');

      const patched = await http(ctx.baseUrl, 'PATCH', `/courses/${courseId}`, { capacity: 2 }, asAdmin);
      expect(patched.status).toBe(200);
      await live.untilEvents(1);
      expect(check('event', await live.reply('event'))).toBe('valid');

      // Both selectors: the document refuses what the server refuses.
      const twoSelectors = { type: 'subscribe', student_id: 's-0042', course_id: courseId };
      expect(check('subscribe', twoSelectors)).not.toBe('valid');
      expect(check('error', await subscribe(live, twoSelectors))).toBe('valid');

      const seen = live.frames.length;
      live.send({ type: 'unsubscribe', course_id: courseId });
      expect(check('unsubscribed', await live.reply('unsubscribed', seen))).toBe('valid');
    } finally {
      await live.close();
    }
  });
});
