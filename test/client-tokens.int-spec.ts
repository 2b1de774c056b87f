import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connectLive, subscribe } from './support/live-client.js';
import { ADMIN_TOKEN, useWorld } from './support/test-app.js';

const OLD = 'old-client-token-0001';
const NEW = 'new-client-token-0002';

type Access = 'anyone' | 'clients' | 'operators';
type Presented = 'none' | 'wrong' | 'old (rotated out)' | 'client' | 'admin';

const PRESENTED: Record<Presented, string | undefined> = {
  none: undefined,
  wrong: 'Bearer wrong-token-0000000',
  'old (rotated out)': `Bearer ${OLD}`,
  client: `Bearer ${NEW}`,
  admin: `bearer ${ADMIN_TOKEN}`,
};

/** Who may call an operation, as the OpenAPI document declares it. */
function accessOf(operation: { security?: Array<Record<string, unknown>> }): Access {
  const schemes = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement));
  if (schemes.includes('client')) return 'clients';
  return schemes.includes('admin') ? 'operators' : 'anyone';
}

function expectedRefusal(access: Access, presented: Presented): boolean {
  if (access === 'anyone') return false;
  if (access === 'operators') return presented !== 'admin';
  return presented !== 'client' && presented !== 'admin';
}

describe('who may call what (CLIENT_TOKENS)', () => {
  const ctx = useWorld({ app: false });

  it('takes both tokens during a rotation', async () => {
    await ctx.restartApp({ CLIENT_TOKENS: `${OLD},${NEW}` });
    for (const token of [OLD, NEW]) {
      const answer = await fetch(`${ctx.baseUrl}/courses`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(answer.status).toBe(200);
    }
    await ctx.app.close();
  });

  it('answers every endpoint × every token as the document says: 401 exactly where it must', async () => {
    await ctx.restartApp({ CLIENT_TOKENS: NEW });
    const document = (await (await fetch(`${ctx.baseUrl}/docs-json`)).json()) as {
      paths: Record<string, Record<string, { security?: Array<Record<string, unknown>> }>>;
    };
    const endpoints: Array<[string, string, Access]> = [
      ['GET', '/docs', 'anyone'],
      ['GET', '/docs-json', 'anyone'],
      ['GET', '/docs/asyncapi.json', 'anyone'],
      ['GET', '/admin/queues', 'operators'],
    ];
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const concrete = path.replace(/\{[^}]+\}/g, (name) => (/id\}$/.test(name) ? '1' : 'x-1'));
        endpoints.push([method.toUpperCase(), concrete, accessOf(operation)]);
      }
    }
    expect(endpoints.filter(([, , access]) => access === 'clients').length).toBeGreaterThanOrEqual(8);
    expect(endpoints.filter(([, , access]) => access === 'operators').length).toBeGreaterThanOrEqual(6);

    const wrong: string[] = [];
    const summary = new Map<string, number>();
    for (const [method, path, access] of endpoints) {
      for (const [presented, authorization] of Object.entries(PRESENTED) as Array<
        [Presented, string | undefined]
      >) {
        const answer = await fetch(`${ctx.baseUrl}${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
          body: ['POST', 'PATCH'].includes(method) ? '{}' : undefined,
        });
        const refused = answer.status === 401;
        if (refused !== expectedRefusal(access, presented) || answer.status >= 500) {
          wrong.push(`${method} ${path} with ${presented}: ${answer.status}`);
        }
        if (refused) {
          const body = await answer.json();
          expect(body).toMatchObject({
            statusCode: 401,
            message: expect.stringMatching(/Authorization|ADMIN_TOKEN/),
          });
          expect(JSON.stringify(body)).not.toContain(NEW);
        } else await answer.arrayBuffer();
        const cell = `${access.padEnd(9)} × ${presented.padEnd(17)} → ${refused ? '401' : 'let through'}`;
        summary.set(cell, (summary.get(cell) ?? 0) + 1);
      }
    }
    console.log(
      `${endpoints.length} endpoints × ${Object.keys(PRESENTED).length} tokens:\n` +
        [...summary].map(([cell, count]) => `  ${cell}: ${count} endpoints`).join('\n'),
    );
    expect(wrong).toEqual([]);
  });

  it('lets /ws clients in with the same tokens: on the upgrade request or in the subscribe message', async () => {
    const outcomes: string[] = [];
    for (const [presented, authorization] of Object.entries(PRESENTED) as Array<
      [Presented, string | undefined]
    >) {
      for (const where of ['upgrade', 'message'] as const) {
        const header: Record<string, string> = where === 'upgrade' && authorization ? { authorization } : {};
        const client = await connectLive(ctx.baseUrl, { headers: header }).catch((error: Error) => error);
        if (client instanceof Error) {
          outcomes.push(`${presented} on the ${where}: upgrade refused (${client.message})`);
          continue;
        }
        const token = where === 'message' && authorization ? { token: authorization.split(' ')[1] } : {};
        const answer = await subscribe(client, { student_id: 'matrix-1', ...token });
        outcomes.push(
          `${presented} on the ${where}: ${answer.type}${answer.field ? ` (${answer.field})` : ''}`,
        );
        await client.close();
      }
    }
    console.log(`/ws:\n  ${outcomes.join('\n  ')}`);
    expect(outcomes).toEqual([
      'none on the upgrade: error (token)',
      'none on the message: error (token)',
      'wrong on the upgrade: upgrade refused (Unexpected server response: 401)',
      'wrong on the message: error (token)',
      'old (rotated out) on the upgrade: upgrade refused (Unexpected server response: 401)',
      'old (rotated out) on the message: error (token)',
      'client on the upgrade: subscribed',
      'client on the message: subscribed',
      'admin on the upgrade: subscribed',
      'admin on the message: subscribed',
    ]);
  });

  it('refuses to start in production without client tokens or with the default admin token', () => {
    expect(existsSync('dist/main.js')).toBe(true);
    const start = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['dist/main.js'], {
        env: {
          PATH: process.env.PATH,
          NODE_ENV: 'production',
          DATABASE_URL: ctx.world.env.DATABASE_URL,
          ...env,
        },
        encoding: 'utf8',
        timeout: 20_000,
      });
    const noClients = start({ ADMIN_TOKEN: 'a-secret-admin-token' });
    expect(noClients.status).toBe(1);
    expect(noClients.stderr).toMatch(/CLIENT_TOKENS must be set in production/);
    const defaultAdmin = start({ CLIENT_TOKENS: NEW });
    expect(defaultAdmin.status).toBe(1);
    expect(defaultAdmin.stderr).toMatch(/ADMIN_TOKEN must be set to a secret of your own in production/);
    expect(defaultAdmin.stderr).not.toContain(NEW);
  });
});
