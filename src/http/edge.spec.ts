import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { edge } from './edge.js';

/** Runs the edge once; resolves with what it passed to Express's next (undefined: go on), or 'answered'. */
function run(steps: RequestHandler[]): Promise<unknown> {
  return new Promise((resolve) => {
    const response = { end: () => resolve('answered') } as unknown as Response;
    edge(steps)({} as Request, response, ((error?: unknown) => resolve(error)) as NextFunction);
  });
}

const step =
  (name: string, seen: string[]): RequestHandler =>
  (_request, _response, next) => {
    seen.push(name);
    next();
  };

describe('edge', () => {
  it('runs the steps in order, then hands over to the next layer', async () => {
    const seen: string[] = [];
    expect(await run([step('a', seen), step('b', seen), step('c', seen)])).toBeUndefined();
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('stops at a step that answers, and passes on an error given to next, thrown or rejected', async () => {
    const seen: string[] = [];
    const answer: RequestHandler = (_request, response) => response.end();
    expect(await run([step('a', seen), answer, step('never', seen)])).toBe('answered');
    const refused = new Error('refused');
    const viaNext: RequestHandler = (_request, _response, next) => next(refused);
    const thrown: RequestHandler = () => {
      throw refused;
    };
    const rejected: RequestHandler = () => Promise.reject(refused);
    for (const failing of [viaNext, thrown, rejected]) {
      expect(await run([step('a', seen), failing, step('never', seen)])).toBe(refused);
    }
    expect(seen).not.toContain('never');
  });
});
