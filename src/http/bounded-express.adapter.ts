import { createServer } from 'node:http';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { AppConfig } from '../config/app-config.js';

/** How often the server looks for connections past their header or request deadline (Node's default: 30 s). */
const DEADLINE_CHECK_MS = 1000;

/**
 * Express on an HTTP server whose deadlines bound what a slow or silent client can hold: Node's defaults
 * (headers 60 s, request 300 s, checked every 30 s) let slow-body connections stay open for minutes, so a
 * few thousand of them could hold the process. The deadlines are given at creation, the only time Node
 * takes the checking interval.
 */
export class BoundedExpressAdapter extends ExpressAdapter {
  constructor(private readonly limits: AppConfig['http']) {
    super();
  }

  override initHttpServer(options: Parameters<ExpressAdapter['initHttpServer']>[0]): void {
    super.initHttpServer(options);
    const server = createServer(
      {
        headersTimeout: this.limits.headersTimeoutMs,
        requestTimeout: this.limits.requestTimeoutMs,
        connectionsCheckingInterval: DEADLINE_CHECK_MS,
      },
      this.getInstance(),
    );
    server.maxConnections = this.limits.maxConnections;
    this.setHttpServer(server);
  }
}
