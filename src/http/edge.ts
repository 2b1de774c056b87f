import type { RequestHandler } from 'express';

/**
 * The checks every request meets before a route, run as one Express layer: each router layer a request
 * passes costs a match, a params object and closures, and the accept path passed seven of them here
 * (docs/performance.md). Each step calls next() as it would in Express; an error or an answer stops the run.
 * As in Express 5, a step that throws or whose promise rejects passes its error on.
 */
export function edge(steps: RequestHandler[]): RequestHandler {
  return (request, response, next) => {
    let index = 0;
    const step = (error?: unknown): void => {
      if (error !== undefined && error !== null) return next(error);
      const handler = steps[index++];
      if (handler === undefined) return next();
      try {
        const returned: unknown = handler(request, response, step);
        if (returned instanceof Promise) returned.catch(next);
      } catch (thrown) {
        next(thrown);
      }
    };
    step();
  };
}
