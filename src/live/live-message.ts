import { IDEMPOTENCY_KEY_PATTERN, STUDENT_ID_PATTERN } from '../decisions/vocabulary.js';
import type { EventSelector } from '../events/events.service.js';

/** What a client may send on /ws (docs/guarantees.md §16): a subscription, or its end. */
export interface ClientMessage {
  type: 'subscribe' | 'unsubscribe';
  selector: EventSelector;
  after?: string;
  token?: string;
}

/** Why a message was refused, naming the field at fault when there is one. */
export interface MessageProblem {
  message: string;
  field?: string;
}

const FIELDS = new Set(['type', 'student_id', 'idempotency_key', 'course_id', 'after', 'token']);
const SELECTORS = ['student_id', 'idempotency_key', 'course_id'] as const;
const MAX_TOKEN_LENGTH = 1024;
const MAX_CURSOR_LENGTH = 16_384;

/** Checks a parsed JSON message field by field, as the HTTP API's validation does. */
export function parseClientMessage(message: unknown): ClientMessage | MessageProblem {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return { message: 'a message must be a JSON object' };
  }
  const fields = message as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!FIELDS.has(name))
      return { message: `unknown field ${JSON.stringify(name.slice(0, 64))}`, field: name };
  }
  if (fields.type !== 'subscribe' && fields.type !== 'unsubscribe') {
    return { message: 'type must be "subscribe" or "unsubscribe"', field: 'type' };
  }
  const given = SELECTORS.filter((name) => fields[name] !== undefined);
  if (given.length !== 1) {
    return {
      message: 'give exactly one of student_id, idempotency_key or course_id',
      ...(given.length > 1 ? { field: given[1] } : {}),
    };
  }
  let selector: EventSelector;
  const value = fields[given[0]];
  switch (given[0]) {
    case 'student_id':
      if (typeof value !== 'string' || !STUDENT_ID_PATTERN.test(value))
        return {
          message: 'student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..',
          field: 'student_id',
        };
      selector = { kind: 'student', studentId: value };
      break;
    case 'idempotency_key':
      if (typeof value !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(value))
        return {
          message: 'idempotency_key must be 1..128 printable ASCII characters, not . or ..',
          field: 'idempotency_key',
        };
      selector = { kind: 'request', idempotencyKey: value };
      break;
    case 'course_id':
      if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 2_147_483_647)
        return { message: 'course_id must be an integer from 1 to 2147483647', field: 'course_id' };
      selector = { kind: 'course', courseId: value as number };
      break;
  }
  const { after, token } = fields;
  if (
    after !== undefined &&
    (fields.type !== 'subscribe' || typeof after !== 'string' || after.length > MAX_CURSOR_LENGTH)
  ) {
    return { message: 'after must be a cursor this service sent, on a subscribe', field: 'after' };
  }
  if (token !== undefined && (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH)) {
    return { message: `token must be a string of at most ${MAX_TOKEN_LENGTH} characters`, field: 'token' };
  }
  return {
    type: fields.type,
    selector,
    ...(after === undefined ? {} : { after: after as string }),
    ...(token === undefined ? {} : { token: token as string }),
  };
}

/** The selector as the client wrote it, echoed in the server's answers. */
export function selectorFields(selector: EventSelector): Record<string, string | number> {
  switch (selector.kind) {
    case 'student':
      return { student_id: selector.studentId };
    case 'request':
      return { idempotency_key: selector.idempotencyKey };
    case 'course':
      return { course_id: selector.courseId };
  }
}
