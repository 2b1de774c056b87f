import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { isConnectionError } from '../database/database-errors.js';
import { bodyReadError } from './request-checks.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';

export const STATUS_BY_CODE: Record<DomainErrorCode, HttpStatus> = {
  [DomainErrorCode.CourseNotFound]: HttpStatus.NOT_FOUND,
  [DomainErrorCode.EnrollmentNotFound]: HttpStatus.NOT_FOUND,
  [DomainErrorCode.CourseCodeTaken]: HttpStatus.CONFLICT,
  [DomainErrorCode.IdempotencyKeyMissing]: HttpStatus.BAD_REQUEST,
  [DomainErrorCode.IdempotencyKeyInvalid]: HttpStatus.BAD_REQUEST,
  [DomainErrorCode.IdempotencyKeyMismatch]: HttpStatus.BAD_REQUEST,
  [DomainErrorCode.IdempotencyKeyReused]: HttpStatus.UNPROCESSABLE_ENTITY,
  [DomainErrorCode.QueueUnavailable]: HttpStatus.SERVICE_UNAVAILABLE,
  [DomainErrorCode.DatabaseUnavailable]: HttpStatus.SERVICE_UNAVAILABLE,
  [DomainErrorCode.AdminTokenInvalid]: HttpStatus.UNAUTHORIZED,
  [DomainErrorCode.ClientTokenInvalid]: HttpStatus.UNAUTHORIZED,
  [DomainErrorCode.RequestNotWithdrawable]: HttpStatus.CONFLICT,
  [DomainErrorCode.CapacityBelowSeatsTaken]: HttpStatus.CONFLICT,
  [DomainErrorCode.CourseWindowInvalid]: HttpStatus.BAD_REQUEST,
  [DomainErrorCode.RegistrationNotOpen]: HttpStatus.CONFLICT,
  [DomainErrorCode.RegistrationClosed]: HttpStatus.CONFLICT,
  [DomainErrorCode.DeadLetterNotFound]: HttpStatus.NOT_FOUND,
  [DomainErrorCode.LimitBelowLoad]: HttpStatus.CONFLICT,
  [DomainErrorCode.OverrideNotFound]: HttpStatus.NOT_FOUND,
  [DomainErrorCode.SwapForInvalid]: HttpStatus.BAD_REQUEST,
  [DomainErrorCode.SwapForUnknown]: HttpStatus.UNPROCESSABLE_ENTITY,
  [DomainErrorCode.SwapTargetTaken]: HttpStatus.CONFLICT,
  [DomainErrorCode.OfferNotOpen]: HttpStatus.CONFLICT,
  [DomainErrorCode.OfferExpired]: HttpStatus.CONFLICT,
  [DomainErrorCode.OfferBlocked]: HttpStatus.CONFLICT,
  [DomainErrorCode.DrawSettingsInvalid]: HttpStatus.BAD_REQUEST,
  [DomainErrorCode.DrawPeriodBegun]: HttpStatus.CONFLICT,
  [DomainErrorCode.AppointmentNotFound]: HttpStatus.NOT_FOUND,
  [DomainErrorCode.WebhookNotFound]: HttpStatus.NOT_FOUND,
  [DomainErrorCode.AppointmentNotOpen]: HttpStatus.CONFLICT,
  [DomainErrorCode.AppointmentClosed]: HttpStatus.CONFLICT,
  [DomainErrorCode.AppointmentBatchTooLarge]: HttpStatus.PAYLOAD_TOO_LARGE,
  [DomainErrorCode.PathParameterInvalid]: HttpStatus.BAD_REQUEST,
  [DomainErrorCode.RequestInvalid]: HttpStatus.BAD_REQUEST,
  [DomainErrorCode.RateLimited]: HttpStatus.TOO_MANY_REQUESTS,
  [DomainErrorCode.UnsupportedMediaType]: HttpStatus.UNSUPPORTED_MEDIA_TYPE,
  [DomainErrorCode.BodyTooLarge]: HttpStatus.PAYLOAD_TOO_LARGE,
};

/** Seconds a client should wait before retrying when a dependency is unavailable. */
const QUEUE_RETRY_AFTER_SECONDS = 2;

/** A PostgreSQL outage met on any route: the client may retry; the driver's words stay in the log. */
const databaseUnavailable = () =>
  new DomainError(
    DomainErrorCode.DatabaseUnavailable,
    'the database (PostgreSQL) is unavailable; retry later',
  );

/**
 * Every error leaves as `{ statusCode, error, message }`. Domain errors and Nest's HttpExceptions keep their
 * meaning; anything else is a logged 500 carrying a correlation id, never a stack trace.
 */
@Catch()
export class DomainExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(DomainExceptionFilter.name);

  catch(thrown: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request>();
    // Not logged per request: the dependency monitor logs each outage once, when it starts and ends.
    // A body body-parser could not read reaches here as an HttpException caused by its error.
    const exception =
      !(thrown instanceof DomainError) && !(thrown instanceof HttpException) && isConnectionError(thrown)
        ? databaseUnavailable()
        : thrown instanceof HttpException
          ? (bodyReadError(thrown.cause) ?? thrown)
          : thrown;

    if (exception instanceof DomainError) {
      const status = STATUS_BY_CODE[exception.code];
      if (status === HttpStatus.SERVICE_UNAVAILABLE) {
        response.setHeader('Retry-After', String(QUEUE_RETRY_AFTER_SECONDS));
      }
      response.status(status).json({
        statusCode: status,
        error: reasonPhrase(status),
        message: exception.message,
        ...(exception.details ? { details: exception.details } : {}),
      });
      return;
    }
    if (exception instanceof HttpException) {
      // Nest's and Express' own (an unknown route, a body too large to read): the same shape as ours.
      const status = exception.getStatus();
      const body = exception.getResponse();
      const said = typeof body === 'string' ? body : (body as { message?: unknown }).message;
      const message = Array.isArray(said) ? said.join('; ') : String(said ?? reasonPhrase(status));
      response.status(status).json({ statusCode: status, error: reasonPhrase(status), message });
      return;
    }
    // The request id the access log carries (set by requestLogger), so the 500 and its log line match.
    const correlationId = String(response.getHeader('X-Request-Id') ?? randomUUID());
    this.logger.error(
      { err: exception, correlationId, method: request.method, url: request.originalUrl },
      'unexpected error',
    );
    response.status(HttpStatus.INTERNAL_SERVER_ERROR).json({
      statusCode: HttpStatus.INTERNAL_SERVER_ERROR,
      error: 'Internal Server Error',
      message: 'Unexpected error; quote the correlation id when reporting it',
      correlation_id: correlationId,
    });
  }
}

/** The status's reason phrase, as every error body's `error` carries it. */
export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}
