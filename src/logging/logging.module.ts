import { randomUUID } from 'node:crypto';
import { Module } from '@nestjs/common';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import type { RequestHandler } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';

/** A client-sent id is kept only if it is short and plain, so it cannot forge log lines. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * JSON lines through pino (nestjs-pino): the application's loggers write to one root pino logger whose
 * configuration redacts credentials. nestjs-pino's own per-request middleware is not mounted: it binds
 * each request in an AsyncLocalStorage, and the async hooks that takes were the largest single cost of the
 * accept path (README, Performance). HTTP lines come from requestLogger() instead, each with its request id. (The pinoHttp
 * options below configure nestjs-pino's root logger: level and redaction for every other line.)
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        pinoHttp: {
          level: config.logLevel,
          redact: {
            paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
            censor: '[redacted]',
          },
        },
        forRoutes: [],
      }),
    }),
  ],
})
export class LoggingModule {}

/** Probes and scrapes every few seconds would drown the lines that matter. */
const UNLOGGED_PATHS = /^\/(health|ready|metrics)/;

/**
 * The access log: one line per answered request at info level, carrying the caller's X-Request-Id or a new
 * one. Written here rather than with pino-http, whose per-request child logger and serializers cost the
 * accept path a measurable share of its CPU (README, Performance); the line holds no headers, so no credential can reach it.
 */
export function requestLogger(): RequestHandler {
  return (request, response, next) => {
    const sent = request.headers['x-request-id'];
    const id = typeof sent === 'string' && REQUEST_ID_PATTERN.test(sent) ? sent : randomUUID();
    response.setHeader('X-Request-Id', id);
    const logger = PinoLogger.root;
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
