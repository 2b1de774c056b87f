import type { ArgumentsHost } from '@nestjs/common';
import {
  BadRequestException,
  Logger,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { jest } from '@jest/globals';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { DomainExceptionFilter } from './domain-exception.filter.js';

function answer(exception: unknown, requestId?: string) {
  const sent = { status: 0, body: undefined as unknown, headers: {} as Record<string, string> };
  if (requestId) sent.headers['X-Request-Id'] = requestId;
  const response = {
    status(code: number) {
      sent.status = code;
      return this;
    },
    json(body: unknown) {
      sent.body = body;
      return this;
    },
    setHeader(name: string, value: string) {
      sent.headers[name] = value;
    },
    getHeader(name: string) {
      return sent.headers[name];
    },
  };
  const request = { headers: {}, method: 'POST', originalUrl: '/enroll' };
  const host = {
    switchToHttp: () => ({ getResponse: () => response, getRequest: () => request }),
  } as unknown as ArgumentsHost;
  new DomainExceptionFilter().catch(exception, host);
  return sent;
}

describe('DomainExceptionFilter', () => {
  it.each([
    [DomainErrorCode.CourseNotFound, 404, 'Not Found'],
    [DomainErrorCode.EnrollmentNotFound, 404, 'Not Found'],
    [DomainErrorCode.CourseCodeTaken, 409, 'Conflict'],
    [DomainErrorCode.IdempotencyKeyMissing, 400, 'Bad Request'],
    [DomainErrorCode.IdempotencyKeyInvalid, 400, 'Bad Request'],
    [DomainErrorCode.IdempotencyKeyMismatch, 400, 'Bad Request'],
    [DomainErrorCode.IdempotencyKeyReused, 422, 'Unprocessable Entity'],
    [DomainErrorCode.QueueUnavailable, 503, 'Service Unavailable'],
    [DomainErrorCode.DatabaseUnavailable, 503, 'Service Unavailable'],
    [DomainErrorCode.AdminTokenInvalid, 401, 'Unauthorized'],
    [DomainErrorCode.ClientTokenInvalid, 401, 'Unauthorized'],
    [DomainErrorCode.PathParameterInvalid, 400, 'Bad Request'],
    [DomainErrorCode.RequestInvalid, 400, 'Bad Request'],
  ])('maps %s to %i', (code, status, error) => {
    const sent = answer(new DomainError(code, 'what went wrong'));
    expect(sent.status).toBe(status);
    expect(sent.body).toEqual({ statusCode: status, error, message: 'what went wrong' });
  });

  it('asks the client to come back later when the queue is unavailable', () => {
    expect(answer(new DomainError(DomainErrorCode.QueueUnavailable, 'down')).headers['Retry-After']).toBe(
      '2',
    );
    expect(
      answer(new DomainError(DomainErrorCode.CourseNotFound, 'x')).headers['Retry-After'],
    ).toBeUndefined();
  });

  it('answers a lost or refused database connection with 503, Retry-After and the dependency, not the driver', () => {
    for (const error of [
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('the database system is shutting down'), { code: '57P03' }),
    ]) {
      const sent = answer(error);
      expect(sent.status).toBe(503);
      expect(sent.headers['Retry-After']).toBe('2');
      expect(sent.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'the database (PostgreSQL) is unavailable; retry later',
      });
    }
  });

  it("gives Nest's and Express' HTTP exceptions the same shape: message a string, error the reason phrase", () => {
    const sent = answer(new BadRequestException(['priority must not be greater than 100', 'x is wrong']));
    expect(sent.status).toBe(400);
    expect(sent.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'priority must not be greater than 100; x is wrong',
    });
    const tooLarge = answer(new PayloadTooLargeException('request entity too large'));
    expect(tooLarge.body).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      message: 'request entity too large',
    });
    expect(answer(new UnsupportedMediaTypeException()).body).toMatchObject({
      statusCode: 415,
      error: 'Unsupported Media Type',
    });
  });

  it('lists every invalid field of a request in details, beside one message', () => {
    const details = ['student_id must be 1..64 characters', 'priority must not be greater than 100'];
    const sent = answer(new DomainError(DomainErrorCode.RequestInvalid, 'two problems', details));
    expect(sent.body).toEqual({ statusCode: 400, error: 'Bad Request', message: 'two problems', details });
  });

  it('turns anything else into a logged 500 with a correlation id and no stack trace', () => {
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const sent = answer(new Error('secret internals'));
    expect(sent.status).toBe(500);
    expect(sent.body).toMatchObject({
      statusCode: 500,
      error: 'Internal Server Error',
      correlation_id: expect.any(String),
    });
    expect(JSON.stringify(sent.body)).not.toContain('secret internals');
    expect(logged).toHaveBeenCalled();
    logged.mockRestore();
  });

  it('uses the request id of the access log as the correlation id', () => {
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    expect(answer(new Error('boom'), 'trace-7').body).toMatchObject({ correlation_id: 'trace-7' });
    expect(logged).toHaveBeenCalledWith(
      expect.objectContaining({ correlationId: 'trace-7' }),
      'unexpected error',
    );
    logged.mockRestore();
  });
});
