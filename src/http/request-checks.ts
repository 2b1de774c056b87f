import type { NextFunction, Request, Response } from 'express';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';

/** One thing wrong with a body: the field (a dotted path) and why. */
export interface BodyProblem {
  field: string;
  message: string;
}

/** The largest body read (docs/guarantees.md §19); a bigger one is answered 413 before it is parsed. */
export const MAX_BODY_BYTES = 16 * 1024;
/** Every body the API takes is flat; past this depth a body is refused before anything walks it. */
export const MAX_BODY_DEPTH = 8;
/** Keys that name an object's prototype: treated as the unknown fields they are, never silently dropped. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * What makes a parsed body hostile, if anything: nesting deeper than MAX_BODY_DEPTH (class-transformer
 * would recurse through it and overflow the stack), or a key naming a prototype. Walked with a stack of
 * its own, so no body can overflow this walk either.
 */
export function hostileBodyProblem(body: unknown): BodyProblem | null {
  if (isFlatAndPlain(body)) return null;
  const pending: Array<{ value: unknown; depth: number; path: string }> = [
    { value: body, depth: 0, path: '' },
  ];
  while (pending.length > 0) {
    const { value, depth, path } = pending.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_BODY_DEPTH) {
      return { field: path, message: `the body is nested deeper than ${MAX_BODY_DEPTH} levels (at ${path})` };
    }
    for (const key of Object.keys(value)) {
      const field = path ? `${path}.${key}` : key;
      if (PROTOTYPE_KEYS.has(key)) return { field, message: `property ${field} should not exist` };
      pending.push({ value: (value as Record<string, unknown>)[key], depth: depth + 1, path: field });
    }
  }
  return null;
}

/**
 * The common case, checked without allocating: an object (or nothing) whose values are all primitives and
 * whose keys name no prototype; the walk below is for everything else.
 */
function isFlatAndPlain(body: unknown): boolean {
  if (body === null || typeof body !== 'object') return true;
  if (Array.isArray(body)) return false;
  for (const key in body) {
    if (PROTOTYPE_KEYS.has(key)) return false;
    const value = (body as Record<string, unknown>)[key];
    if (value !== null && typeof value === 'object') return false;
  }
  return true;
}

/** The Content-Type a JSON client sends, compared as a string before type-is parses anything. */
const PLAIN_JSON_TYPES = new Set(['application/json', 'application/json; charset=utf-8']);

/**
 * Before the body is read: a request that carries one says it is JSON (`Content-Type: application/json`,
 * with any parameters); anything else is a 415 rather than a body silently read as empty.
 */
export function requireJsonBody(request: Request, _response: Response, next: NextFunction): void {
  const type = request.headers['content-type'];
  if (type !== undefined && PLAIN_JSON_TYPES.has(type.toLowerCase())) {
    next();
    return;
  }
  // is() answers null without a body (GET, DELETE), false for another type; an empty POST's
  // Content-Length: 0 counts as a body there, but there is nothing to read.
  if (request.headers['content-length'] !== '0' && request.is('application/json') === false) {
    const message = `Content-Type must be application/json (got ${request.headers['content-type'] ?? 'none'})`;
    next(new DomainError(DomainErrorCode.UnsupportedMediaType, message, [message]));
    return;
  }
  next();
}

/** What body-parser says when it cannot read a body, in our words: its own are V8's or zlib's. */
export function bodyReadError(cause: unknown): DomainError | undefined {
  const { type, charset, encoding } = (cause ?? {}) as {
    type?: unknown;
    charset?: unknown;
    encoding?: unknown;
  };
  const body = (code: DomainErrorCode, message: string) => new DomainError(code, message, [message]);
  switch (type) {
    case 'entity.parse.failed':
      return body(DomainErrorCode.RequestInvalid, 'the body is not valid JSON (send one JSON object)');
    case 'entity.too.large':
      return body(DomainErrorCode.BodyTooLarge, `the body is larger than ${MAX_BODY_BYTES / 1024} KiB`);
    case 'charset.unsupported':
      return body(
        DomainErrorCode.UnsupportedMediaType,
        `charset ${String(charset)} is not supported; send UTF-8`,
      );
    case 'encoding.unsupported':
      return body(
        DomainErrorCode.UnsupportedMediaType,
        `Content-Encoding ${String(encoding)} is not supported; send identity, gzip, deflate or br`,
      );
    case 'request.aborted':
    case 'request.size.invalid':
      return body(DomainErrorCode.RequestInvalid, 'the body ended before its Content-Length');
    default:
      // zlib's failures carry no type: a body whose bytes are not what its Content-Encoding says.
      if (typeof (cause as { errno?: unknown } | undefined)?.errno === 'number') {
        return body(
          DomainErrorCode.RequestInvalid,
          'the body could not be decoded with its Content-Encoding',
        );
      }
      return undefined;
  }
}

/**
 * Before any route: one Idempotency-Key header at most (Node would join two into one "a, b" key), and no
 * hostile body (see hostileBodyProblem). A refusal goes to the exception filter as a 400 like any other.
 */
export function checkRequest(request: Request, _response: Response, next: NextFunction): void {
  // Node joins repeated headers with ", ": only then is it worth building headersDistinct to count them.
  const joined = request.headers['idempotency-key'];
  const keys = joined?.includes(',') ? request.headersDistinct['idempotency-key'] : undefined;
  if (keys && keys.length > 1) {
    const message = 'send one Idempotency-Key header, not several';
    next(new DomainError(DomainErrorCode.RequestInvalid, message, [message]));
    return;
  }
  const problem = hostileBodyProblem(request.body);
  if (problem) {
    next(new DomainError(DomainErrorCode.RequestInvalid, problem.message, [problem.message]));
    return;
  }
  next();
}
