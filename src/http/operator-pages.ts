import type { RequestHandler } from 'express';
import { operatorAuth } from '../auth/operator-auth.middleware.js';
import type { AppConfig } from '../config/app-config.js';

const METRICS_PATHS = /^\/metrics(\/|$)/;
const DOCS_PATHS = /^\/docs(-json|\/|$)/;

/**
 * /metrics and the API description (/docs, /docs-json, /docs/asyncapi.json) are open by default, for local
 * use. METRICS_ACCESS=operators and DOCS_ACCESS=operators ask for the admin token as the queue board does
 * (Bearer, or Basic with it as the password, so a browser prompts; Prometheus sends it with its
 * `authorization` setting); DOCS_ACCESS=off does not serve the description at all.
 */
export function restrictOperatorPages(
  config: Pick<AppConfig, 'adminToken' | 'metricsAccess' | 'docsAccess'>,
): RequestHandler {
  const operatorsOnly = operatorAuth(config.adminToken);
  if (config.metricsAccess === 'open' && config.docsAccess === 'open') {
    return (_request, _response, next) => next();
  }
  return (request, response, next) => {
    // Most requests are for neither: a string test on the raw URL spares them Express's URL parse.
    if (!request.url.startsWith('/metrics') && !request.url.startsWith('/docs')) return next();
    const access = METRICS_PATHS.test(request.path)
      ? config.metricsAccess
      : DOCS_PATHS.test(request.path)
        ? config.docsAccess
        : 'open';
    if (access === 'open') return next();
    if (access === 'operators') return operatorsOnly(request, response, next);
    response
      .status(404)
      .json({ statusCode: 404, error: 'Not Found', message: `Cannot ${request.method} ${request.path}` });
  };
}
