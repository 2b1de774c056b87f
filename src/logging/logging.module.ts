import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { LoggerModule } from 'nestjs-pino';
import { type AppConfig, CONFIG_NAMESPACE } from '../config/app-config.js';

/** A client-sent id is kept only if it is short and plain, so it cannot forge log lines. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * JSON lines through pino: every HTTP line carries a request id (the caller's X-Request-Id or a new one,
 * echoed back), and credentials never reach the log.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        pinoHttp: {
          level: config.getOrThrow<AppConfig>(CONFIG_NAMESPACE).logLevel,
          genReqId: (request: IncomingMessage, response: ServerResponse) => {
            const sent = request.headers['x-request-id'];
            const id = typeof sent === 'string' && REQUEST_ID_PATTERN.test(sent) ? sent : randomUUID();
            response.setHeader('X-Request-Id', id);
            return id;
          },
          redact: {
            paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
            censor: '[redacted]',
          },
          // Probes and scrapes every few seconds would drown the lines that matter.
          autoLogging: {
            ignore: (request: IncomingMessage) => /^\/(health|ready|metrics)/.test(request.url ?? ''),
          },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
