import { STATUS_BY_CODE } from './domain-exception.filter.js';
import type { Request, Response } from 'express';
import { DomainError } from '../errors/domain-error.js';
import {
  MAX_BODY_DEPTH,
  bodyReadError,
  checkRequest,
  hostileBodyProblem,
  requireJsonBody,
} from './request-checks.js';

/** `{ "a": { "a": ... 1 } }`, `levels` objects deep. */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i += 1) value = { a: value };
  return value;
}

describe('hostileBodyProblem', () => {
  it('lets a flat body and one nested up to the limit through', () => {
    expect(hostileBodyProblem({ student_id: 's-1', course_id: 1, priority: 0 })).toBeNull();
    expect(hostileBodyProblem(nested(MAX_BODY_DEPTH))).toBeNull();
    expect(hostileBodyProblem(undefined)).toBeNull();
  });

  it('refuses a body nested past the limit, and one nested 100,000 levels without overflowing', () => {
    expect(hostileBodyProblem(nested(MAX_BODY_DEPTH + 1))).toMatchObject({
      message: `the body is nested deeper than ${MAX_BODY_DEPTH} levels (at a.a.a.a.a.a.a.a)`,
    });
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i += 1) deep = [deep];
    expect(hostileBodyProblem(deep)).not.toBeNull();
  });

  it.each(['__proto__', 'constructor', 'prototype'])(
    'treats %s as the unknown field it is, at any depth',
    (key) => {
      expect(hostileBodyProblem(JSON.parse(`{"student_id":"s-1","${key}":{"x":1}}`))).toEqual({
        field: key,
        message: `property ${key} should not exist`,
      });
      expect(hostileBodyProblem(JSON.parse(`{"a":{"${key}":1}}`))).toMatchObject({ field: `a.${key}` });
    },
  );
});

describe('bodyReadError', () => {
  it.each([
    [{ type: 'entity.parse.failed' }, 400, 'the body is not valid JSON (send one JSON object)'],
    [{ type: 'entity.too.large' }, 413, 'the body is larger than 16 KiB'],
    [{ type: 'charset.unsupported', charset: 'LATIN1' }, 415, 'charset LATIN1 is not supported; send UTF-8'],
    [
      { type: 'encoding.unsupported', encoding: 'zstd' },
      415,
      'Content-Encoding zstd is not supported; send identity, gzip, deflate or br',
    ],
    [{ type: 'request.aborted' }, 400, 'the body ended before its Content-Length'],
    [{ errno: -3, code: 'Z_DATA_ERROR' }, 400, 'the body could not be decoded with its Content-Encoding'],
  ])('says what is wrong with an unreadable body in its own words (%j)', (cause, status, message) => {
    const error = bodyReadError(cause)!;
    expect({ status: STATUS_BY_CODE[error.code], message: error.message, details: error.details }).toEqual({
      status,
      message,
      details: [message],
    });
  });

  it('leaves any other error alone', () => {
    expect(bodyReadError(new Error('something else'))).toBeUndefined();
    expect(bodyReadError(undefined)).toBeUndefined();
  });
});

describe('the edge checks on the common path', () => {
  const run = (check: typeof requireJsonBody, headers: Record<string, string>) => {
    const request = {
      headers,
      is: (type: string) => (headers['content-type']?.startsWith(type) ? type : false),
      headersDistinct: Object.fromEntries(
        Object.entries(headers).map(([name, value]) => [name, value.split(', ')]),
      ),
      body: { student_id: 's-1' },
    } as unknown as Request;
    let passed: unknown = 'not called';
    check(request, {} as Response, (error?: unknown) => (passed = error));
    return passed;
  };

  it('lets JSON through on the string test, and refuses another type with a 415', () => {
    expect(run(requireJsonBody, { 'content-type': 'application/json' })).toBeUndefined();
    expect(run(requireJsonBody, { 'content-type': 'Application/JSON; charset=UTF-8' })).toBeUndefined();
    expect(run(requireJsonBody, { 'content-type': 'application/json; charset=utf-16' })).toBeUndefined();
    const refused = run(requireJsonBody, { 'content-type': 'text/plain', 'content-length': '3' });
    expect(refused).toBeInstanceOf(DomainError);
    expect(STATUS_BY_CODE[(refused as DomainError).code]).toBe(415);
  });

  it('counts Idempotency-Key headers only when Node joined several into one', () => {
    expect(run(checkRequest, { 'idempotency-key': 'k-1' })).toBeUndefined();
    const refused = run(checkRequest, { 'idempotency-key': 'k-1, k-2' });
    expect((refused as DomainError).message).toBe('send one Idempotency-Key header, not several');
  });
});
