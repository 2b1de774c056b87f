import { connect, type Socket } from 'node:net';
import { formatSlowloris, slowloris } from '../scripts/slowloris.mjs';
import { type ChildService, startChildService } from './support/child-service.js';
import {
  ADMIN_TOKEN,
  asAdmin,
  basicAuth,
  CLIENT_TOKEN,
  eventually,
  http,
  type TestApp,
  useWorld,
} from './support/test-app.js';
import { itWithBrowser as withBrowser, launchChromium } from './support/browser.js';

const itWithBrowser = withBrowser('http-hardening');

describe('security headers', () => {
  const ctx = useWorld();

  it.each([
    ['GET', '/health'],
    ['GET', '/courses'],
    ['GET', '/no-such-page'],
    ['POST', '/enroll'],
  ])('sends helmet headers and no X-Powered-By on %s %s', async (method, path) => {
    const answer = await http(ctx.baseUrl, method, path, method === 'POST' ? {} : undefined);
    expect(answer.headers.get('x-powered-by')).toBeNull();
    expect(answer.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(answer.headers.get('content-security-policy')).not.toContain('upgrade-insecure-requests');
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
    expect(answer.headers.get('x-frame-options')).toBe('SAMEORIGIN');
  });

  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])(
    'takes the %s scheme (RFC 7235: case-insensitive)',
    async (scheme) => {
      const created = await http(
        ctx.baseUrl,
        'POST',
        '/courses',
        {
          code: `CASE-${['Bearer', 'bearer', 'BEARER', 'bEaReR'].indexOf(scheme)}`,
          title: 'Scheme case',
          capacity: 1,
        },
        { authorization: `${scheme} ${ADMIN_TOKEN}` },
      );
      expect(created.status).toBe(201);
      const listed = await http(ctx.baseUrl, 'GET', '/courses', undefined, {
        authorization: `${scheme} ${CLIENT_TOKEN}`,
      });
      expect(listed.status).toBe(200);
    },
  );

  it.each([
    ['text/plain', '{"student_id":"s-1"}', 415, 'Content-Type must be application/json (got text/plain)'],
    [
      'application/x-www-form-urlencoded',
      'student_id=s-1&course_id=1',
      415,
      'Content-Type must be application/json (got application/x-www-form-urlencoded)',
    ],
    ['application/json; charset=latin1', '{}', 415, 'charset latin1 is not supported; send UTF-8'],
    ['application/json', 'null', 400, 'the body is not valid JSON (send one JSON object)'],
    ['application/json', '{"student_id":', 400, 'the body is not valid JSON (send one JSON object)'],
  ])('answers a %s body %j with %i in its own words', async (type, body, status, message) => {
    const answer = await http(ctx.baseUrl, 'POST', '/enroll', body, { 'content-type': type });
    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({ statusCode: status, message });
    expect(answer.body.details).toHaveLength(1);
  });

  it('answers a body past 16 KiB with 413, and one whose bytes are not its Content-Encoding with 400', async () => {
    const large = await http(
      ctx.baseUrl,
      'POST',
      '/enroll',
      JSON.stringify({ student_id: 'x'.repeat(20_000) }),
    );
    expect(large.body).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      message: 'the body is larger than 16 KiB',
      details: ['the body is larger than 16 KiB'],
    });
    const garbled = await http(ctx.baseUrl, 'POST', '/enroll', '{"not":"gzip"}', {
      'content-encoding': 'gzip',
    });
    expect(garbled.status).toBe(400);
    expect(garbled.body.message).toBe('the body could not be decoded with its Content-Encoding');
  });

  itWithBrowser('keeps Swagger UI working under the CSP: it renders and tries an operation out', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const refused: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) refused.push(message.text());
      });
      expect((await page.goto(`${ctx.baseUrl}/docs`))?.status()).toBe(200);
      const health = page.locator('.opblock', { hasText: '/health' }).first();
      await health.waitFor({ state: 'visible', timeout: 20_000 });
      await health.locator('.opblock-summary').click();
      await health.getByRole('button', { name: 'Try it out' }).click();
      await health.getByRole('button', { name: 'Execute' }).click();
      await health.locator('.live-responses-table .response-col_status', { hasText: '200' }).first().waitFor({
        timeout: 20_000,
      });
      expect(refused).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('/metrics and /docs for operators only', () => {
  const ctx = useWorld({ app: false });
  let restricted: TestApp;
  let hidden: TestApp;

  beforeAll(async () => {
    restricted = await ctx.startApp({ METRICS_ACCESS: 'operators', DOCS_ACCESS: 'operators' });
    hidden = await ctx.startApp({ ROLE: 'api', DOCS_ACCESS: 'off' });
  });

  it.each([
    ['/metrics', 'Bearer'],
    ['/metrics/json', 'Bearer'],
    ['/docs', 'Basic'],
    ['/docs-json', 'Basic'],
    ['/docs/asyncapi.json', 'Basic'],
  ])('asks for the admin token on %s (%s too)', async (path, scheme) => {
    const anonymous = await fetch(restricted.baseUrl + path);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="CourseFlow operators"/);
    expect(await anonymous.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    // A student portal's token opens the API, not the operators' pages.
    expect(
      (await fetch(restricted.baseUrl + path, { headers: { authorization: `Bearer ${CLIENT_TOKEN}` } }))
        .status,
    ).toBe(401);
    expect((await fetch(restricted.baseUrl + path, { headers: asAdmin })).status).toBe(200);
    // Prometheus sends a Bearer token; a browser opening the docs prompts for Basic credentials.
    const credential = scheme === 'Basic' ? basicAuth('operator', ADMIN_TOKEN) : `bearer ${ADMIN_TOKEN}`;
    expect((await fetch(restricted.baseUrl + path, { headers: { authorization: credential } })).status).toBe(
      200,
    );
  });

  it('leaves the probes and the API open to their usual callers', async () => {
    expect((await fetch(`${restricted.baseUrl}/health`)).status).toBe(200);
    expect((await fetch(`${restricted.baseUrl}/ready`)).status).toBe(200);
    expect((await http(restricted.baseUrl, 'GET', '/courses')).status).toBe(200);
  });

  it.each(['/docs', '/docs-json', '/docs/asyncapi.json', '/docs/swagger-ui-init.js'])(
    'does not serve %s at all with DOCS_ACCESS=off',
    async (path) => {
      const answer = await fetch(hidden.baseUrl + path, {
        headers: asAdmin,
      });
      expect(answer.status).toBe(404);
      expect(await answer.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
    },
  );

  it('still serves /metrics with DOCS_ACCESS=off and METRICS_ACCESS left open', async () => {
    const metrics = await fetch(`${hidden.baseUrl}/metrics`, {
      headers: { authorization: `Bearer ${CLIENT_TOKEN}` },
    });
    expect(metrics.status).toBe(200);
  });
});

/** Sends `request` on a new connection and resolves with all the server sent back before it closed. */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(request));
    let reply = '';
    socket.on('data', (chunk) => (reply += chunk.toString()));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(reply));
    socket.setTimeout(5000, () => socket.destroy());
  });
}

describe('slow and silent connections', () => {
  const ctx = useWorld({ app: false });
  let service: ChildService | undefined;

  afterEach(async () => {
    service?.process.kill('SIGKILL');
    await service?.exited;
    service = undefined;
  });

  it('closes every slowloris socket at its deadline while honest requests are answered', async () => {
    service = await startChildService({
      ...ctx.world.env,
      CLIENT_TOKENS: '',
      ROLE: 'api',
      HTTP_HEADERS_TIMEOUT_MS: '2000',
      HTTP_REQUEST_TIMEOUT_MS: '4000',
    });
    const result = await slowloris({ url: service.baseUrl, sockets: 1500, tickMs: 300, maxMs: 20_000 });
    console.log(`http-hardening: slowloris, headers 2 s / request 4 s deadlines\n${formatSlowloris(result)}`);
    expect(result.failedToOpen).toBe(0);
    expect(result.stillOpen).toBe(0);
    // Node looks for expired connections every second (BoundedExpressAdapter): a deadline plus that, plus slack.
    expect(result.heldMs.silent.max).toBeLessThan(2000 + 2500);
    expect(result.heldMs['slow headers'].max).toBeLessThan(2000 + 2500);
    expect(result.heldMs['slow body'].max).toBeLessThan(4000 + 2500);
    expect(result.honest.sent).toBeGreaterThan(10);
    expect(result.honest.ok).toBe(result.honest.sent);
  });

  it('closes connections past HTTP_MAX_CONNECTIONS at once, and takes new ones when room is made', async () => {
    service = await startChildService({
      ...ctx.world.env,
      CLIENT_TOKENS: '',
      ROLE: 'api',
      HTTP_MAX_CONNECTIONS: '50',
      HTTP_HEADERS_TIMEOUT_MS: '3000',
      HTTP_REQUEST_TIMEOUT_MS: '3000',
    });
    const { port } = new URL(service.baseUrl);
    const idle: Socket[] = [];
    for (let index = 0; index < 50; index += 1) {
      const socket = connect({ host: '127.0.0.1', port: Number(port) });
      socket.on('error', () => undefined);
      idle.push(socket);
      await new Promise((resolve) => socket.once('connect', resolve));
    }
    try {
      // One more is closed by the server before it reads a byte.
      expect(await exchange(Number(port), 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('');
      // The idle ones pass their header deadline and are closed; then there is room again.
      const answered = await eventually(
        async () => {
          const reply = await exchange(
            Number(port),
            'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
          );
          return reply === '' ? undefined : reply;
        },
        10_000,
        'room for a new connection',
      );
      expect(answered).toMatch(/^HTTP\/1\.1 200 OK/);
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });
});
