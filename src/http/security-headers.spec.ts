import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import { SECURITY_HEADER_OPTIONS, securityHeaders } from './security-headers.js';

function headersAfter(middleware: RequestHandler): Record<string, unknown> {
  const request = new IncomingMessage(new Socket());
  const response = new ServerResponse(request);
  response.setHeader('X-Powered-By', 'Express');
  let passed = false;
  middleware(request as never, response as never, () => (passed = true));
  expect(passed).toBe(true);
  return response.getHeaders();
}

describe('securityHeaders', () => {
  it("sets exactly the headers helmet sets with the application's options, X-Powered-By removed", () => {
    const expected = headersAfter(helmet(SECURITY_HEADER_OPTIONS) as RequestHandler);
    expect(Object.keys(expected).length).toBeGreaterThan(10);
    expect(expected['x-powered-by']).toBeUndefined();
    expect(headersAfter(securityHeaders())).toEqual(expected);
  });

  it('keeps helmet itself when a directive is computed per request (a nonce)', () => {
    const nonce = () => `'nonce-${Math.random()}'`;
    const options = { contentSecurityPolicy: { directives: { scriptSrc: ["'self'", nonce] } } };
    const middleware = securityHeaders(options);
    const first = headersAfter(middleware)['content-security-policy'];
    const second = headersAfter(middleware)['content-security-policy'];
    expect(first).not.toEqual(second);
  });
});
