import type { IncomingMessage, OutgoingHttpHeader } from 'node:http';
import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/** helmet's defaults but one (no upgrade-insecure-requests), as every response carries them. */
export const SECURITY_HEADER_OPTIONS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: {
    // Served over plain HTTP too (behind a proxy, or on a cluster's network): an upgrade to https
    // would break Swagger UI's and the queue board's own scripts there.
    directives: { upgradeInsecureRequests: null },
  },
};

/**
 * helmet's headers, worked out once. Configured without per-request functions (a CSP nonce, say), helmet
 * sets the same headers on every response through a dozen nested middlewares; here they are recorded on a
 * stand-in response at start and set from that list. Options with a function keep helmet itself.
 */
export function securityHeaders(options: Readonly<HelmetOptions> = SECURITY_HEADER_OPTIONS): RequestHandler {
  const csp = options.contentSecurityPolicy;
  const directives = typeof csp === 'object' ? Object.values(csp.directives ?? {}) : [];
  if (
    directives.some(
      (value) =>
        typeof value === 'function' || (Array.isArray(value) && value.some((v) => typeof v === 'function')),
    )
  ) {
    return helmet(options);
  }
  const set: Array<[string, OutgoingHttpHeader]> = [];
  const removed: string[] = [];
  const recorder = {
    setHeader: (name: string, value: OutgoingHttpHeader) => set.push([name, value]),
    removeHeader: (name: string) => removed.push(name),
  };
  helmet(options)({} as IncomingMessage, recorder as never, (error?: unknown) => {
    if (error) throw error;
  });
  return (_request, response, next) => {
    for (const name of removed) response.removeHeader(name);
    for (const [name, value] of set) response.setHeader(name, value);
    next();
  };
}
