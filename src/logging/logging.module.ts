import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type LoggerService, Module } from '@nestjs/common';
import type { RequestHandler } from 'express';
import { type Level, type Logger as Pino, pino } from 'pino';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';

/** A client-sent id is kept only if it is short and plain, so it cannot forge log lines. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * JSON lines through one root pino logger, whose configuration redacts credentials: Nest's loggers
 * (`new Logger(Context)`) write to it through this service, HTTP lines through requestLogger(). (It
 * replaces nestjs-pino, whose releases for Nest 12 require Node 22, and of which only this adapter was
 * used: its per-request middleware binds each request in an AsyncLocalStorage, the largest single cost
 * of the accept path when it was mounted — docs/performance.md.)
 */
@Injectable()
export class AppLogger implements LoggerService {
  readonly pino: Pino;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.pino = pino({
      level: config.logLevel,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
        censor: '[redacted]',
      },
    });
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /**
   * Nest passes the logger's context last; an object message becomes the line's fields (its `msg` the
   * message), an Error its `err`, and error(text, stack, context) keeps the stack.
   */
  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const rest = [...params];
    if (rest.length > 0 && typeof rest[rest.length - 1] === 'string') fields.context = rest.pop();
    if (message instanceof Error) {
      fields.err = message;
      this.pino[level](fields, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.pino[level]({ ...fields, ...(message as Record<string, unknown>) });
    } else if (level === 'error' && typeof rest[0] === 'string' && rest[0].includes('\n    at ')) {
      const err = new Error(String(message));
      err.stack = rest[0];
      this.pino[level]({ ...fields, err }, String(message));
    } else {
      this.pino[level](fields, String(message));
    }
  }
}

@Module({ providers: [AppLogger], exports: [AppLogger] })
export class LoggingModule {}

/** Probes and scrapes every few seconds would drown the lines that matter. */
const UNLOGGED_PATHS = /^\/(health|ready|metrics)/;

/**
 * The access log: one line per answered request at info level, carrying the caller's X-Request-Id or a new
 * one. Written here rather than with pino-http, whose per-request child logger and serializers cost the
 * accept path a measurable share of its CPU (docs/performance.md); the line holds no headers, so no credential can reach it.
 */
export function requestLogger(logger: Pino): RequestHandler {
  return (request, response, next) => {
    const sent = request.headers['x-request-id'];
    const id = typeof sent === 'string' && REQUEST_ID_PATTERN.test(sent) ? sent : randomUUID();
    response.setHeader('X-Request-Id', id);
    if (logger.isLevelEnabled('info') && !UNLOGGED_PATHS.test(request.url)) {
      const started = performance.now();
      response.once('finish', () =>
        logger.info(
          // Flat fields: pino's req/res serializers expect the raw Node objects.
          {
            req_id: id,
            method: request.method,
            url: request.originalUrl,
            status_code: response.statusCode,
            response_time_ms: Math.round(performance.now() - started),
          },
          'request completed',
        ),
      );
    }
    next();
  };
}
