import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  partitionOf,
  partitionQueueName,
  partitionQueueNames,
} from '../src/queue/allocation-queue.contract.js';
import {
  ADMIN_TOKEN,
  asAdmin,
  basicAuth,
  eventually,
  http,
  newCourse,
  newRequest,
  type TestApp,
  useWorld,
} from './support/test-app.js';
import { itWithBrowser as withBrowser, launchChromium } from './support/browser.js';

const SCREENSHOT = resolve('test-output/queue-board.png');
const itWithBrowser = withBrowser('queue-board');

function board(app: TestApp, path: string, headers: Record<string, string> = {}, method = 'GET') {
  return fetch(`${app.baseUrl}/admin/queues${path}`, {
    method,
    headers: { connection: 'close', ...headers },
  });
}

/** The operators' queue console, on an API process: jobs stay where the API queued them (no worker). */
describe('queue console at /admin/queues', () => {
  const ctx = useWorld({ appEnv: { ROLE: 'api' } });

  it('asks a browser for the operator credential when none is sent', async () => {
    const response = await board(ctx.app, '');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm="CourseFlow operators"/);
    expect(await response.text()).not.toContain('<html');
  });

  it('refuses a wrong password, a wrong Bearer token and the board API without credentials', async () => {
    expect((await board(ctx.app, '', { authorization: basicAuth('operator', 'not-the-token') })).status).toBe(
      401,
    );
    expect((await board(ctx.app, '', { authorization: 'Bearer not-the-token' })).status).toBe(401);
    expect((await board(ctx.app, '/api/queues')).status).toBe(401);
    expect((await board(ctx.app, '/static/images/logo.svg')).status).toBe(401);
  });

  it('serves the board with ADMIN_TOKEN as the Basic password, whatever the user name, or as a Bearer token', async () => {
    for (const authorization of [
      basicAuth('operator', ADMIN_TOKEN),
      basicAuth('', ADMIN_TOKEN),
      `Bearer ${ADMIN_TOKEN}`,
    ]) {
      const response = await board(ctx.app, '', { authorization });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/html');
      expect(await response.text()).toContain('<html');
    }
  });

  it('lists every partition queue, read-only, with the jobs the API queued', async () => {
    const courseId = await newCourse(ctx.baseUrl, 5);
    const accepted = await http(ctx.baseUrl, 'POST', '/enroll', newRequest(courseId));
    expect(accepted.status).toBe(202);
    const ownQueue = partitionQueueName(partitionOf(courseId, ctx.app.config.allocationPartitions));

    const queues = await eventually(
      async () => {
        const response = await board(ctx.app, '/api/queues', asAdmin);
        expect(response.status).toBe(200);
        const body = (await response.json()) as {
          queues: { name: string; counts: any; readOnlyMode: boolean }[];
        };
        return body.queues.find((queue) => queue.name === ownQueue)?.counts.prioritized === 1
          ? body.queues
          : undefined;
      },
      10_000,
      `the job in ${ownQueue}`,
    );
    expect(queues.map((queue) => queue.name).sort()).toEqual(
      partitionQueueNames(ctx.app.config.allocationPartitions).sort(),
    );
    expect(queues.every((queue) => queue.readOnlyMode)).toBe(true);
  });

  it('refuses to change a queue (pausing a partition would stall its courses)', async () => {
    const name = encodeURIComponent(partitionQueueName(0));
    const paused = await board(ctx.app, `/api/queues/${name}/pause`, asAdmin, 'PUT');
    expect(paused.status).toBe(405);
    const response = await board(ctx.app, '/api/queues', asAdmin);
    const body = (await response.json()) as { queues: { name: string; isPaused: boolean }[] };
    expect(body.queues.find((queue) => queue.name === partitionQueueName(0))?.isPaused).toBe(false);
  });

  itWithBrowser('shows every partition queue to an operator who signs in with a browser', async () => {
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({
        httpCredentials: { username: 'operator', password: ADMIN_TOKEN },
        viewport: { width: 1280, height: 900 },
      });
      const page = await context.newPage();
      const opened = await page.goto(`${ctx.baseUrl}/admin/queues`);
      expect(opened?.status()).toBe(200);
      for (const name of partitionQueueNames(ctx.app.config.allocationPartitions)) {
        await page.getByText(name, { exact: true }).first().waitFor({ state: 'visible', timeout: 20_000 });
      }
      await mkdir(resolve('test-output'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`queue-board: screenshot saved to ${SCREENSHOT}`);
      expect(existsSync(SCREENSHOT)).toBe(true);
    } finally {
      await browser.close();
    }
  });
});
