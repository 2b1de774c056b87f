import { appendFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Ajv, type ValidateFunction } from 'ajv';
import { isDateTime } from '../../src/http/date-time.js';

/**
 * Every response a test app sends to a documented operation is checked against the served OpenAPI document:
 * its status must be declared for that operation, its body must validate against the declared schema, a
 * declared required header must be there, and Location or Retry-After must not be sent undeclared. The
 * violations fail the test file (see reportConformance); the counts go to the run's summary.
 */

type Json = Record<string, any>;

interface Operation {
  template: string;
  method: string;
  pattern: RegExp;
  responses: Json;
}

/** Headers a client acts on: sending one the document does not declare for that response is a violation. */
const ACTED_ON_HEADERS = ['location', 'retry-after'];

export class ConformanceChecker {
  private readonly operations: Operation[];
  private readonly ajv = new Ajv({
    strict: false,
    allErrors: true,
    validateSchema: false,
    // The service's own reading of RFC 3339 (src/http/date-time.ts, held to the RFC by its unit test).
    formats: { 'date-time': isDateTime },
  });
  private readonly validators = new Map<string, ValidateFunction>();
  checked = 0;
  readonly violations: string[] = [];

  constructor(document: Json) {
    this.ajv.addSchema(document, 'openapi.json');
    this.operations = Object.entries(document.paths as Json).flatMap(([template, item]) =>
      Object.entries(item as Json).map(([method, operation]) => ({
        template,
        method: method.toUpperCase(),
        // A template segment matches one raw (still URL-encoded) path segment.
        pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
        responses: (operation as Json).responses as Json,
      })),
    );
    // Literal paths before templated ones, should both match.
    this.operations.sort((a, b) => Number(a.template.includes('{')) - Number(b.template.includes('{')));
  }

  /** The documented operation a request reaches, if any (the docs, Bull Board and unknown routes have none). */
  operationOf(method: string, url: string): Operation | undefined {
    const path = url.split('?')[0];
    return this.operations.find((operation) => operation.method === method && operation.pattern.test(path));
  }

  check(operation: Operation, status: number, headers: Record<string, unknown>, body: string): void {
    this.checked += 1;
    const where = `${operation.method} ${operation.template} → ${status}`;
    const code = String(status);
    const declared =
      operation.responses[code] ?? operation.responses[`${code[0]}XX`] ?? operation.responses.default;
    if (!declared) {
      this.violations.push(`${where}: status not declared (body ${body.slice(0, 200)})`);
      return;
    }
    const responseKey = operation.responses[code]
      ? code
      : operation.responses[`${code[0]}XX`]
        ? `${code[0]}XX`
        : 'default';
    const declaredHeaders = Object.fromEntries(
      Object.entries((declared.headers ?? {}) as Json).map(([name, header]) => [
        name.toLowerCase(),
        header as Json,
      ]),
    );
    for (const [name, header] of Object.entries(declaredHeaders)) {
      if (header.required && headers[name] === undefined)
        this.violations.push(`${where}: header ${name} missing`);
    }
    for (const name of ACTED_ON_HEADERS) {
      if (headers[name] !== undefined && !declaredHeaders[name]) {
        this.violations.push(`${where}: header ${name} sent but not declared`);
      }
    }
    const content = declared.content as Json | undefined;
    if (!content) {
      if (body.length > 0) this.violations.push(`${where}: a body, where none is declared`);
      return;
    }
    const mediaType = String(headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    if (!content[mediaType]) {
      this.violations.push(`${where}: content-type ${mediaType || '(none)'} not declared`);
      return;
    }
    if (mediaType !== 'application/json' || !content[mediaType].schema) return;
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      this.violations.push(`${where}: body is not JSON: ${body.slice(0, 200)}`);
      return;
    }
    const pointer = [
      'paths',
      operation.template,
      operation.method.toLowerCase(),
      'responses',
      responseKey,
      'content',
      mediaType,
      'schema',
    ]
      .map((segment) => segment.replace(/~/g, '~0').replace(/\//g, '~1'))
      .join('/');
    let validate = this.validators.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `openapi.json#/${pointer}` });
      this.validators.set(pointer, validate);
    }
    if (!validate(value)) {
      const errors = (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message}`);
      this.violations.push(`${where}: ${errors.join('; ')} in ${body.slice(0, 300)}`);
    }
  }
}

/**
 * Express middleware (installed first, before the body parsers) that hands each response to the checker once
 * it is sent. Only responses of documented operations have their body kept, so the docs and Bull Board cost
 * nothing.
 */
export function recordResponses(checker: () => ConformanceChecker | undefined) {
  return (request: IncomingMessage, response: ServerResponse, next: () => void): void => {
    const current = checker();
    const operation = current?.operationOf(request.method ?? 'GET', request.url ?? '/');
    if (!current || !operation) {
      next();
      return;
    }
    const chunks: Buffer[] = [];
    const keep = (chunk: unknown, encoding?: unknown) => {
      if (typeof chunk === 'string')
        chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
      else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
    };
    const write = response.write.bind(response);
    const end = response.end.bind(response);
    response.write = ((chunk: unknown, ...rest: unknown[]) => {
      keep(chunk, rest[0]);
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof response.write;
    response.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') keep(chunk, rest[0]);
      return (end as (...args: unknown[]) => ServerResponse)(chunk, ...rest);
    }) as typeof response.end;
    response.once('finish', () =>
      current.check(
        operation,
        response.statusCode,
        response.getHeaders(),
        Buffer.concat(chunks).toString('utf8'),
      ),
    );
    next();
  };
}

/**
 * After a test file: its violations fail it; its counts are appended to the run's report (global-teardown
 * prints the sum).
 */
export function reportConformance(checkers: ConformanceChecker[]): void {
  const checked = checkers.reduce((sum, checker) => sum + checker.checked, 0);
  const violations = [...new Set(checkers.flatMap((checker) => checker.violations))];
  const report = process.env.COURSEFLOW_OPENAPI_REPORT;
  if (report && checked > 0) {
    appendFileSync(
      report,
      JSON.stringify({ file: expect.getState().testPath, checked, violations: violations.length }) + '\n',
    );
  }
  if (violations.length > 0) {
    throw new Error(
      `${violations.length} responses do not match the OpenAPI document at /docs-json:\n${violations.join('\n')}`,
    );
  }
}
