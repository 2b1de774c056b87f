import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { databaseUrl } from '../scripts/kit.mjs';
import { type ChildService, startChildService } from './support/child-service.js';
import { withAdminClient } from './support/database.js';
import { asAdmin, asClient, http, useWorld } from './support/test-app.js';

const parsed = (lines: string[]): Array<Record<string, any>> =>
  lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, any>);

const dropDatabase = (name: string): Promise<unknown> =>
  withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));

/** A fresh clone's first `npm start`: the built service on a server where nothing was prepared for it. */
describe('first start', () => {
  const ctx = useWorld({ app: false });
  const running: ChildService[] = [];

  afterEach(async () => {
    for (const service of running.splice(0)) {
      service.process.kill('SIGTERM');
      await service.exited;
    }
  });

  it('creates the database DATABASE_URL names when it does not exist, migrates it and comes up ready', async () => {
    const name = `courseflow_first_${randomBytes(5).toString('hex')}`;
    try {
      const service = await startChildService({
        ...ctx.world.env,
        DATABASE_URL: databaseUrl(name),
        RUN_MIGRATIONS: 'true',
        LOG_LEVEL: 'info',
      });
      running.push(service);
      const entries = parsed(service.lines);
      expect(entries).toContainEqual(
        expect.objectContaining({ level: 30, msg: `created database ${name} at 127.0.0.1:5432` }),
      );
      expect(entries.filter((entry) => entry.level >= 50)).toEqual([]);
      const created = await http(
        service.baseUrl,
        'POST',
        '/courses',
        { code: 'FIRST1', title: 'First start', capacity: 1 },
        asAdmin,
      );
      expect(created.status).toBe(201);
    } finally {
      await dropDatabase(name);
    }
  });

  it('lets two processes starting at once on a missing database both come up (the loser of CREATE DATABASE goes on)', async () => {
    const name = `courseflow_first_${randomBytes(5).toString('hex')}`;
    try {
      const env = { ...ctx.world.env, DATABASE_URL: databaseUrl(name), ROLE: 'api', LOG_LEVEL: 'info' };
      const services = await Promise.all([startChildService(env), startChildService(env)]);
      running.push(...services);
      const created = services.flatMap((service) =>
        parsed(service.lines).filter((entry) => String(entry.msg).startsWith('created database')),
      );
      expect(created.length).toBeLessThanOrEqual(1);
    } finally {
      await dropDatabase(name);
    }
  });

  it('stops at once with one line naming the database when the user may not create it', async () => {
    const role = `courseflow_nocreatedb_${randomBytes(4).toString('hex')}`;
    const name = `courseflow_missing_${randomBytes(4).toString('hex')}`;
    await withAdminClient((client) => client.query(`CREATE ROLE ${role} LOGIN NOCREATEDB PASSWORD 'x'`));
    try {
      const url = new URL(databaseUrl(name));
      url.username = role;
      url.password = 'x';
      const startedAt = Date.now();
      const failure = await startChildService({
        ...ctx.world.env,
        DATABASE_URL: url.toString(),
        LOG_LEVEL: 'info',
      }).then(
        () => 'started',
        (error: Error) => error.message,
      );
      expect(Date.now() - startedAt).toBeLessThan(10_000);
      const entries = parsed(failure.split('\n'));
      expect(entries).toEqual([
        expect.objectContaining({
          level: 60,
          msg:
            `database ${name} does not exist at 127.0.0.1:5432 and user ${role} may not create databases ` +
            `(no CREATEDB). Create it (CREATE DATABASE "${name}" OWNER "${role}"), grant user ${role} ` +
            'CREATEDB, or set DATABASE_URL to an existing database.',
        }),
      ]);
      const exists = await withAdminClient((client) =>
        client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]),
      );
      expect(exists.rowCount).toBe(0);
    } finally {
      await withAdminClient((client) => client.query(`DROP ROLE IF EXISTS ${role}`));
    }
  });

  it('reads .env from its working directory, never over a variable the environment already has', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'courseflow-dotenv-'));
    const fromFile = { admin: 'dotenv-admin-token', client: 'dotenv-client-token-0001' };
    try {
      writeFileSync(
        join(dir, '.env'),
        [
          '# as a newcomer copies .env.example',
          `DATABASE_URL=${ctx.world.database.url}`,
          `ADMIN_TOKEN=${fromFile.admin}`,
          `CLIENT_TOKENS=${fromFile.client}`,
          'LOG_LEVEL=debug',
        ].join('\n'),
      );
      // DATABASE_URL and ADMIN_TOKEN come only from the file; CLIENT_TOKENS and LOG_LEVEL from both.
      const service = await startChildService(
        { ...ctx.world.env, DATABASE_URL: undefined, ADMIN_TOKEN: undefined, LOG_LEVEL: 'info' },
        'ready',
        { cwd: dir },
      );
      running.push(service);
      const created = await http(
        service.baseUrl,
        'POST',
        '/courses',
        { code: 'DOTENV1', title: 'Configured by .env', capacity: 1 },
        { authorization: `Bearer ${fromFile.admin}` },
      );
      expect(created.status).toBe(201);
      expect((await http(service.baseUrl, 'GET', '/courses', undefined, asClient)).status).toBe(200);
      const withFileToken = await http(service.baseUrl, 'GET', '/courses', undefined, {
        authorization: `Bearer ${fromFile.client}`,
      });
      expect(withFileToken.status).toBe(401);
      const entries = parsed(service.lines);
      expect(entries.find((entry) => entry.msg === 'read .env')?.variables.sort()).toEqual([
        'ADMIN_TOKEN',
        'DATABASE_URL',
      ]);
      expect(entries.filter((entry) => entry.level < 30)).toEqual([]);
      expect(service.lines.join('\n')).not.toContain(fromFile.admin);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
