import { IDEMPOTENCY_KEY_PATTERN, STUDENT_ID_PATTERN } from '../decisions/vocabulary.js';
import type { AppConfig } from '../config/app-config.js';
import { EVENT_ID_PATTERN, EVENT_TYPES } from '../events/dto/course-event.response.js';
import { MAX_MESSAGE_BYTES } from './live.gateway.js';

/** What the document states of this deployment: where it listens and the /ws limits it enforces. */
export interface AsyncApiOptions {
  /** host[:port] of the server; without it, a `{host}` variable defaulting to localhost. */
  host?: string;
  serverPort: number;
  live: Pick<AppConfig['live'], 'maxSubscriptions' | 'sendBufferBytes' | 'heartbeatMs'>;
}

const ref = ($ref: string) => ({ $ref });
// The rules live-message.ts and the HTTP DTOs enforce, so a client can check a frame before sending it.
const selectorProperties = {
  student_id: { type: 'string', pattern: STUDENT_ID_PATTERN.source, examples: ['s-0042'] },
  idempotency_key: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN.source, examples: ['portal-7f3a9c1e'] },
  course_id: { type: 'integer', minimum: 1, maximum: 2_147_483_647, examples: [7] },
};
const oneSelector = Object.keys(selectorProperties).map((name) => ({ required: [name] }));
const cursor = {
  type: 'string',
  description:
    "Opaque: the whole connection's resume point (every subscription's position). Give it back as `after`.",
};
const nullable = (type: string, description: string) => ({ type: [type, 'null'], description });

/** One JSON text frame; `type` tells the frames apart. */
function frame(type: string, summary: string, schema: Record<string, unknown>, example: object) {
  const properties = { type: { const: type }, ...(schema.properties as object) };
  return {
    name: type,
    summary,
    contentType: 'application/json',
    payload: { type: 'object', ...schema, properties },
    examples: [{ name: type, payload: { type, ...example } }],
  };
}

/** An answer naming the subscription it is about. */
function answer(type: string, summary: string) {
  return frame(
    type,
    summary,
    {
      required: ['type', 'cursor'],
      properties: { ...selectorProperties, cursor },
      oneOf: oneSelector,
    },
    { student_id: 's-0042', cursor: 'eyJzOnMtMDA0MiI6W1s3LDQyXV19' },
  );
}

/**
 * The AsyncAPI 3 description of /ws (src/live). It describes this application, the server: `receive`
 * operations are the frames clients send it, `send` operations the frames it sends them.
 */
export function asyncApiDocument({ host, serverPort, live }: AsyncApiOptions): Record<string, unknown> {
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'CourseFlow live events',
      version: '1',
      description: [
        'Live course events on `/ws`: the plain WebSocket protocol, one JSON object per text frame.',
        'Subscribe by `student_id` or `idempotency_key` (with a client token when the service sets',
        'CLIENT_TOKENS), or, as an operator, by `course_id` with the admin token. Each event arrives within',
        'about a second of its commit, in commit order per course,',
        'never twice on a connection.',
        '',
        '**Resume.** Every `event`, `subscribed` and `unsubscribed` frame carries `cursor`, the resume',
        "point of the connection's subscriptions together. After a disconnect, reconnect and send each",
        'subscribe again with `"after": <last cursor>`: each replays what it missed, then goes live, with',
        'no gap and no repeat. A course subscription also accepts the `next` cursor of',
        '`GET /courses/{id}/events` (such as `"42"`).',
        '',
        '**Close codes.** `1001`: the server is shutting down; reconnect (to another instance), resume.',
        '`1013`: try again later; too many connections, the server is stopping, or a slow consumer (more',
        `than ${live.sendBufferBytes} bytes unsent, or a replay that does not drain): read faster,`,
        `reconnect and resume. \`1009\`: a frame over ${MAX_MESSAGE_BYTES / 1024} KiB.`,
        '',
        `**Heartbeat.** The server pings every ${live.heartbeatMs} ms; a client that has not answered`,
        '(pong) by the next ping is dropped. Browsers and WebSocket libraries answer pings on their own.',
        '',
        `**Limits.** At most ${live.maxSubscriptions} subscriptions per connection. A refused message gets`,
        'an `error` frame, and the connection stays up.',
      ].join('\n'),
    },
    defaultContentType: 'application/json',
    servers: {
      courseflow: {
        host: host ?? '{host}',
        protocol: 'ws',
        description: 'The API processes (ROLE=all or api). Behind TLS, use wss on the same path.',
        ...(host === undefined
          ? { variables: { host: { default: `localhost:${serverPort}`, description: 'host[:port]' } } }
          : {}),
        security: [
          ref('#/components/securitySchemes/clientToken'),
          ref('#/components/securitySchemes/adminToken'),
        ],
      },
    },
    channels: {
      live: {
        // The path is here only: tools join host, pathname and address, so a pathname too would read /ws/ws.
        address: '/ws',
        title: 'Live events',
        messages: Object.fromEntries(
          ['subscribe', 'unsubscribe', 'subscribed', 'unsubscribed', 'event', 'error'].map((name) => [
            name,
            ref(`#/components/messages/${name}`),
          ]),
        ),
      },
    },
    operations: {
      receiveSubscribe: operation('receive', 'subscribe', 'A client starts a subscription.'),
      receiveUnsubscribe: operation('receive', 'unsubscribe', 'A client ends a subscription.'),
      sendSubscribed: operation('send', 'subscribed', 'The server confirms a subscribe.'),
      sendUnsubscribed: operation('send', 'unsubscribed', 'The server confirms an unsubscribe.'),
      sendEvent: operation('send', 'event', 'The server delivers an event a subscription selects.'),
      sendError: operation('send', 'error', 'The server refuses a message; the connection stays up.'),
    },
    components: {
      securitySchemes: {
        adminToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            'Operators only, for `course_id` subscriptions: `Authorization: Bearer <ADMIN_TOKEN>` on the ' +
            'upgrade request, or the `token` field of the subscribe message instead. It also works wherever a ' +
            'client token does.',
        },
        clientToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            "When the service sets CLIENT_TOKENS: one of them (the student portal's) as " +
            '`Authorization: Bearer <token>` on the upgrade request (a wrong one is refused with 401 there), ' +
            'or the `token` field of each subscribe message. Without CLIENT_TOKENS, students need no token.',
        },
      },
      schemas: { courseEvent: courseEventSchema() },
      messages: {
        subscribe: frame(
          'subscribe',
          'Start receiving the events of a student, a request or (operators) a course.',
          {
            required: ['type'],
            // The server refuses unknown fields; its own frames stay open to additions.
            additionalProperties: false,
            properties: {
              ...selectorProperties,
              after: {
                ...cursor,
                maxLength: 16_384,
                description: 'Replay what came after this cursor first.',
              },
              token: {
                type: 'string',
                maxLength: 1024,
                description:
                  'A client token (when CLIENT_TOKENS is set), or the admin token (needed for course_id).',
              },
            },
            oneOf: oneSelector,
          },
          { student_id: 's-0042', after: 'eyJzOnMtMDA0MiI6W1s3LDQyXV19' },
        ),
        unsubscribe: frame(
          'unsubscribe',
          'Stop a subscription of this connection.',
          {
            required: ['type'],
            additionalProperties: false,
            properties: selectorProperties,
            oneOf: oneSelector,
          },
          { student_id: 's-0042' },
        ),
        subscribed: answer('subscribed', 'The subscription is on; its replay (if `after`) follows.'),
        unsubscribed: answer('unsubscribed', 'The subscription is off; no more events for it.'),
        event: frame(
          'event',
          'One event, once per connection, in commit order per course.',
          { required: ['type', 'event'], properties: { event: ref('#/components/schemas/courseEvent') } },
          {
            event: {
              cursor: 'eyJzOnMtMDA0MiI6W1s3LDQzXV19',
              id: '7-43',
              type: 'promoted',
              course_id: 7,
              student_id: 's-0042',
              idempotency_key: 'portal-7f3a9c1e',
              status: 'enrolled',
              waitlist_position: null,
              reason: null,
              capacity: null,
              at: '2026-11-25T09:00:00.012Z',
              txid: '48213',
            },
          },
        ),
        error: frame(
          'error',
          'A message was refused (and its subscription, if any, not made); the connection stays up.',
          {
            required: ['type', 'message'],
            properties: {
              message: { type: 'string' },
              field: { type: 'string', description: 'The field at fault, when there is one.' },
              ...selectorProperties,
            },
          },
          { message: 'already subscribed', student_id: 's-0042' },
        ),
      },
    },
  };
}

function operation(action: 'send' | 'receive', message: string, summary: string) {
  return {
    action,
    summary,
    channel: ref('#/channels/live'),
    messages: [ref(`#/channels/live/messages/${message}`)],
  };
}

/** The event of docs/guarantees.md §15 (as GET /courses/:id/events has it), with the connection's cursor. */
function courseEventSchema() {
  return {
    type: 'object',
    required: [
      'cursor',
      'id',
      'type',
      'course_id',
      'student_id',
      'idempotency_key',
      'status',
      'waitlist_position',
      'reason',
      'capacity',
      'at',
      'txid',
    ],
    properties: {
      cursor,
      id: {
        type: 'string',
        pattern: EVENT_ID_PATTERN,
        description: 'Names this event alone, the same over REST, /ws and webhooks (dedupe by it)',
      },
      type: { type: 'string', enum: EVENT_TYPES },
      course_id: { type: 'integer' },
      student_id: nullable('string', 'Null for capacity_changed'),
      idempotency_key: nullable('string', 'Null for capacity_changed'),
      status: nullable('string', "The request's status right after the event (promoted carries enrolled)"),
      waitlist_position: nullable('integer', "The request's waitlist place right after the event"),
      reason: nullable(
        'string',
        'Set for rejected (its reason), and for a drop with a cause (swapped: the request that named it in swap_for got its seat; declined; offer_expired)',
      ),
      capacity: nullable('integer', 'The new capacity, for capacity_changed'),
      at: { type: 'string', format: 'date-time' },
      txid: nullable(
        'string',
        'The committing transaction, decimal digits: events of one commit share it, no two commits do; null before v3',
      ),
      entries: {
        type: 'integer',
        minimum: 0,
        description: 'Only on drawn: how many entries the opening draw had',
      },
      seed: {
        type: 'string',
        pattern: '^[0-9a-f]{64}$',
        description: 'Only on drawn: the seed, revealed (GET /courses/:id/draw published its SHA-256 before)',
      },
    },
  };
}
