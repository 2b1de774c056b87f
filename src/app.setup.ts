import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import {
  json,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  urlencoded,
} from 'express';
import { WsAdapter } from '@nestjs/platform-ws';
import type { AppConfig } from './config/app-config.js';
import { LiveGateway } from './live/live.gateway.js';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import {
  APPOINTMENT_BATCH_MAX_BODY_BYTES,
  APPOINTMENT_BATCH_TOO_LARGE,
  isAppointmentBatchRoute,
} from './appointments/dto/appointment-batch.js';
import { DomainError, DomainErrorCode } from './errors/domain-error.js';
import { BoundedExpressAdapter } from './http/bounded-express.adapter.js';
import { edge } from './http/edge.js';
import { securityHeaders } from './http/security-headers.js';
import { serveOpenApi } from './http/openapi.js';
import { restrictOperatorPages } from './http/operator-pages.js';
import { checkRequest, MAX_BODY_BYTES, requireJsonBody } from './http/request-checks.js';
import { AppLogger, requestLogger } from './logging/logging.module.js';

/**
 * The application as main.ts and the tests start it: its modules, on a bounded HTTP server, configured.
 * `observer` sees every request before anything else does (the tests' check of responses against OpenAPI).
 */
export async function createApp(config: AppConfig, observer?: RequestHandler): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(config), new BoundedExpressAdapter(config.http), {
    bufferLogs: true,
    bodyParser: false,
  });
  if (observer) app.use(observer);
  configureApp(app, config);
  return app;
}

/** What every application gets before it listens. */
function configureApp(app: INestApplication, config: AppConfig): void {
  const logger = app.get(AppLogger);
  app.useLogger(logger);
  const express = app as NestExpressApplication;
  express.disable('x-powered-by');
  // Express hashes every answer's body for an ETag; no client revalidates these small, changing answers,
  // and on POST /enroll the hash was a measurable share of the accept path's CPU (docs/performance.md).
  express.disable('etag');
  // One Express layer for the whole edge (src/http/edge.ts): the request id, the security headers, the
  // operator pages, then the body: one that is not JSON is refused (415) before it is read, one past the
  // 16 KiB limit (413) before it is read whole (Nest's own parsers, 100 KiB, are off: see createApp); only
  // POST /admin/appointments, 10,000 rows at most, takes up to 2 MiB (jsonBody).
  // What passes is checked for depth, prototype keys and a repeated Idempotency-Key.
  app.use(
    edge([
      requestLogger(logger.pino),
      securityHeaders(),
      restrictOperatorPages(config),
      requireJsonBody,
      jsonBody(),
      urlencoded({ limit: MAX_BODY_BYTES, extended: false }),
      checkRequest,
    ]),
  );
  // /ws reads its own messages (src/live): the adapter's parser is told to leave them alone.
  app.useWebSocketAdapter(new WsAdapter(app, { messageParser: () => undefined }));
  serveOpenApi(app);
}

/**
 * A JSON body read with the limit of its route: MAX_BODY_BYTES, or APPOINTMENT_BATCH_MAX_BODY_BYTES for
 * POST /admin/appointments, whose 413 names its own limit (body-parser's error would be told as 16 KiB's).
 */
function jsonBody(): RequestHandler {
  const small = json({ limit: MAX_BODY_BYTES });
  const batch = json({ limit: APPOINTMENT_BATCH_MAX_BODY_BYTES });
  const batchTooLarge = () =>
    new DomainError(DomainErrorCode.BodyTooLarge, APPOINTMENT_BATCH_TOO_LARGE, [APPOINTMENT_BATCH_TOO_LARGE]);
  return (request: Request, response: Response, next: NextFunction) => {
    if (!isAppointmentBatchRoute(request.method, request.path)) return small(request, response, next);
    return batch(request, response, (error?: unknown) =>
      next((error as { type?: unknown } | undefined)?.type === 'entity.too.large' ? batchTooLarge() : error),
    );
  };
}

/**
 * SIGTERM / SIGINT: stop accepting connections and let in-flight requests finish, then stop taking jobs and
 * let running allocations commit, then close PostgreSQL and Redis; exit 0. Past SHUTDOWN_TIMEOUT_MS the
 * process exits 1 instead: an unfinished job is re-queued at the head of its queue once its lock expires.
 */
export function exitGracefullyOnSignals(app: INestApplication, config: AppConfig): void {
  const logger = app.get(AppLogger);
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.log({ msg: 'shutting down', signal, timeout_ms: config.shutdownTimeoutMs });
    setTimeout(() => {
      logger.error({ msg: 'shutdown timed out; exiting', timeout_ms: config.shutdownTimeoutMs });
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    try {
      // The HTTP server waits for every socket, /ws ones too: live clients are told to go (1001) meanwhile.
      const httpClosed = closeHttpServer(app.getHttpServer() as Server);
      if (config.role !== 'worker') await app.get(LiveGateway, { strict: false }).goodbye();
      await httpClosed;
      await app.close();
      logger.log({ msg: 'shut down cleanly' });
      process.exit(0);
    } catch (error) {
      logger.error({ msg: 'shutdown failed', err: error });
      process.exit(1);
    }
  };
  process.once('SIGTERM', (signal) => void stop(signal));
  process.once('SIGINT', (signal) => void stop(signal));
}

/** Resolves once the server accepts nothing and every in-flight request has been answered. */
function closeHttpServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    // Keep-alive connections that finish their request while we wait are closed as soon as they idle.
    const idleCloser = setInterval(() => server.closeIdleConnections(), 100);
    server.close(() => {
      clearInterval(idleCloser);
      resolve();
    });
  });
}
