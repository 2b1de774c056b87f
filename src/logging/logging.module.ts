import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import { pinoHttp } from 'pino-http';
import type { RequestHandler } from 'express';
import { type AppConfig, CONFIG_NAMESPACE } from '../config/app-config.js';

/** A client-sent id is kept only if it is short and plain, so it cannot forge log lines. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * JSON lines through pino (nestjs-pino): the application's loggers write to one root pino logger whose
 * configuration redacts credentials. nestjs-pino's own per-request middleware is not mounted: it binds
 * each request in an AsyncLocalStorage, and the async hooks that takes cost the accept path about 30% of
 * its throughput. HTTP lines come from requestLogger() instead, each with its request id.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        pinoHttp: {
          level: config.getOrThrow<AppConfig>(CONFIG_NAMESPACE).logLevel,
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

/** The access log: one line per answered request, carrying the caller's X-Request-Id or a new one. */
export function requestLogger(): RequestHandler {
  return pinoHttp({
    logger: PinoLogger.root,
    // Bind only the request id to the per-request child logger, not the whole serialized request.
    quietReqLogger: true,
    genReqId: (request: IncomingMessage, response: ServerResponse) => {
      const sent = request.headers['x-request-id'];
      const id = typeof sent === 'string' && REQUEST_ID_PATTERN.test(sent) ? sent : randomUUID();
      response.setHeader('X-Request-Id', id);
      return id;
    },
    // Probes and scrapes every few seconds would drown the lines that matter.
    autoLogging: {
      ignore: (request: IncomingMessage) => /^\/(health|ready|metrics)/.test(request.url ?? ''),
    },
  }) as RequestHandler;
}
