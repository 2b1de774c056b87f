import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** No Docker engine runs here, so the deployment files are checked by reading them. */
describe('deployment files', () => {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
    services: Record<string, any>;
  };
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
    const read = [...configSource.matchAll(/(?:read|int|bool|oneOf|hostPorts)\('([A-Z_]+)'/g)].map(
      (match) => match[1],
    );
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
