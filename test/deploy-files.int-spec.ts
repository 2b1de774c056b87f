import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** Every file under a directory, recursively. */
const sources = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));

/** No Docker engine runs here, so the deployment files are checked by reading them. */
describe('deployment files', () => {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
    services: Record<string, any>;
  };
  const monitoring = parse(readFileSync('deploy/compose.monitoring.yml', 'utf8')) as {
    services: Record<string, any>;
  };
  const everyService = { ...compose.services, ...monitoring.services };
  const envExample = readFileSync('.env.example', 'utf8');
  const exampleNames = [...envExample.matchAll(/^([A-Z_]+)=/gm)].map((match) => match[1]);
  const configSource = readFileSync('src/config/app-config.ts', 'utf8');
  const dockerfile = readFileSync('Dockerfile', 'utf8');

  it('runs postgres, redis, an api and workers', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'redis', 'worker']);
    expect(compose.services.api.environment.ROLE).toBe('api');
    expect(compose.services.worker.environment.ROLE).toBe('worker');
  });

  it('configures Redis with AOF on and eviction off, so queued requests survive a restart and a full memory', () => {
    const command = [compose.services.redis.command].flat().join(' ');
    expect(command).toMatch(/--appendonly yes/);
    expect(command).toMatch(/--maxmemory-policy noeviction/);
  });

  it('gives every service a health check, and the api and workers a readiness one', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect({ name, healthcheck: Boolean(service.healthcheck?.test) }).toEqual({ name, healthcheck: true });
    }
    for (const name of ['api', 'worker']) {
      expect([compose.services[name].healthcheck.test].flat().join(' ')).toContain('/ready');
    }
  });

  it('publishes ports on 127.0.0.1 only, monitoring included', () => {
    const published = Object.entries(everyService).flatMap(([name, service]) =>
      (service.ports ?? []).map((port: unknown) => ({ name, port: String(port) })),
    );
    expect(published.map(({ name }) => name).sort()).toEqual([
      'api',
      'grafana',
      'postgres',
      'prometheus',
      'redis',
    ]);
    for (const entry of published) {
      expect(entry).toEqual({ name: entry.name, port: expect.stringMatching(/^127\.0\.0\.1:\d+:\d+$/) });
    }
  });

  it('restarts every service unless it was stopped by hand', () => {
    for (const [name, service] of Object.entries(everyService)) {
      expect({ name, restart: service.restart }).toEqual({ name, restart: 'unless-stopped' });
    }
  });

  it("lets the tests and the demo log in to compose's PostgreSQL with ADMIN_DATABASE_URL's default", () => {
    const kit = readFileSync('scripts/kit.mjs', 'utf8');
    const fallback = /process\.env\.ADMIN_DATABASE_URL \?\? '([^']+)'/.exec(kit)![1];
    const url = new URL(fallback);
    const postgres = compose.services.postgres;
    expect({ user: url.username, password: url.password, database: url.pathname }).toEqual({
      user: postgres.environment.POSTGRES_USER,
      password: postgres.environment.POSTGRES_PASSWORD,
      database: '/postgres',
    });
    expect(postgres.ports).toContain(`${url.hostname}:${url.port}:5432`);
    // One name for that URL everywhere: the tests, the demo, the bench, the fault runs and the README.
    const names = new Set<string>();
    for (const file of [
      'README.md',
      'package.json',
      ...sources('scripts'),
      ...sources('test'),
      ...sources('.ci'),
    ]) {
      for (const [name] of readFileSync(file, 'utf8').matchAll(
        /\b[A-Z_]*(?:ADMIN_[A-Z_]*DATABASE|DATABASE_[A-Z_]*ADMIN)[A-Z_]*\b/g,
      ))
        names.add(name);
    }
    expect([...names]).toEqual(['ADMIN_DATABASE_URL']);
  });

  it('starts the api and workers only once PostgreSQL and Redis are healthy', () => {
    for (const name of ['api', 'worker']) {
      expect(compose.services[name].depends_on).toMatchObject({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
      });
    }
  });

  it('lets SIGTERM shutdown finish before the container is killed', () => {
    for (const name of ['api', 'worker']) expect(compose.services[name].stop_grace_period).toBe('30s');
  });

  it('configures the api and workers only with variables that .env.example lists', () => {
    for (const name of ['api', 'worker']) {
      for (const variable of Object.keys(compose.services[name].environment))
        expect(exampleNames).toContain(variable);
    }
  });

  it('lists in .env.example exactly the variables the service reads', () => {
    const read = [
      ...configSource.matchAll(/(?:read|int|bool|oneOf|hostPorts|optionalNumber)\('([A-Z_]+)'/g),
    ].map((match) => match[1]);
    expect([...new Set(exampleNames)].sort()).toEqual([...new Set(read)].sort());
  });

  it('starts the container with the same node flags as npm start', () => {
    const scripts = JSON.parse(readFileSync('package.json', 'utf8')).scripts as Record<string, string>;
    const start = /^node (.*)dist\/main\.js$/.exec(scripts.start)![1].trim().split(' ');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]) as string[];
    expect(cmd).toEqual(['node', ...start, 'dist/main.js']);
    expect(start).toEqual(expect.arrayContaining([expect.stringMatching(/^--max-old-space-size=/)]));
  });

  it('builds a slim, non-root image with production dependencies only', () => {
    expect(dockerfile).toMatch(/^FROM node:20[\w.-]*slim AS build/m);
    expect(dockerfile).toMatch(/^FROM node:20[\w.-]*slim AS runtime/m);
    expect(dockerfile).toContain('npm ci --omit=dev');
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*/m);
  });

  it('passes the tokens through, with no default admin token for the production image to refuse', () => {
    for (const name of ['api', 'worker']) {
      const environment = compose.services[name].environment;
      expect(environment.ADMIN_TOKEN).toBe('${ADMIN_TOKEN:-}');
      expect(environment.CLIENT_TOKENS).toBe('${CLIENT_TOKENS:-}');
      expect(environment.ALLOW_ANONYMOUS_CLIENTS).toBe('${ALLOW_ANONYMOUS_CLIENTS:-false}');
    }
    expect(dockerfile).toMatch(/^ENV NODE_ENV=production$/m);
  });
});
