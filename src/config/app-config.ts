import { type DynamicModule, Module } from '@nestjs/common';

/** `migrate` applies pending migrations and exits (a deployment's migration job); it never serves. */
type Role = 'api' | 'worker' | 'all' | 'migrate';
const ROLES: readonly Role[] = ['api', 'worker', 'all', 'migrate'];

export type RedisMode = 'single' | 'sentinel' | 'cluster';
const REDIS_MODES: readonly RedisMode[] = ['single', 'sentinel', 'cluster'];

export interface HostPort {
  host: string;
  port: number;
}

/** Where Redis is: one server, a master found through Sentinel, or a Cluster found from seed nodes. */
export interface RedisConfig {
  mode: RedisMode;
  /** single: the server. */
  host: string;
  port: number;
  /** sentinel: the sentinels, and the name of the master they watch. */
  sentinels: HostPort[];
  sentinelName: string;
  /** cluster: any of its nodes; the rest are discovered. */
  nodes: HostPort[];
  /**
   * Replicas that must hold a batch's claims and job before its requests are answered 202 (Redis WAIT);
   * 0 answers once the master has them, and a master lost before it replicated loses them.
   */
  waitReplicas: number;
  waitTimeoutMs: number;
}

/** Every setting of the service, parsed once from the environment. */
export interface AppConfig {
  role: Role;
  serverPort: number;
  databaseUrl: string;
  redis: RedisConfig;
  adminToken: string;
  /** Bearer tokens of the clients (the student portal) allowed on every non-operator endpoint; empty: open. */
  clientTokens: string[];
  /** BullMQ key prefix; lets several deployments (or test runs) share one Redis. */
  queuePrefix: string;
  /** Number of allocation partition queues; every process of a deployment must agree on it. */
  allocationPartitions: number;
  /** Local concurrency of each partition worker (each partition still runs one job at a time). */
  workerConcurrency: number;
  /** Most requests one queue job carries (the API's group commit). */
  allocationBatchMax: number;
  /** Most requests one allocation transaction decides: the active job and the jobs waiting behind it. */
  decisionBatchMax: number;
  /** Calls (POST /enroll and DELETE together) one student may make per window; 0: no limit. */
  rateLimitPerStudent: number;
  rateLimitWindowMs: number;
  /** Tries of one request that keeps failing (not an outage) before it is set aside as a dead letter. */
  deadLetterAttempts: number;
  runMigrations: boolean;
  idempotencyTtlSeconds: number;
  courseCacheTtlMs: number;
  /**
   * A student's limits when the operator set none for them (PUT /admin/students/:id/limits with null);
   * null: no limit. Read at each decision, so a change applies from the next one (nobody loses a place).
   */
  schedule: { defaultMaxCredits: number | null; defaultMaxWaitlisted: number | null };
  /** How long a worker's job lock lives without renewal: bounds how soon a dead worker's job is re-queued. */
  jobLockMs: number;
  shutdownTimeoutMs: number;
  /** How long a starting process waits for PostgreSQL before it gives up with one clear line. */
  databaseStartTimeoutMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /**
   * The HTTP server's limits, so connections that send slowly or nothing cannot hold the process: headers
   * must arrive within headersTimeoutMs, a whole request within requestTimeoutMs, and past maxConnections
   * a new connection is closed at once.
   */
  http: { headersTimeoutMs: number; requestTimeoutMs: number; maxConnections: number };
  /** Who may read /metrics (open, or operators with ADMIN_TOKEN) and /docs (also: off, not served). */
  metricsAccess: 'open' | 'operators';
  docsAccess: 'open' | 'operators' | 'off';
  /** Live events on /ws: limits that keep one client from costing the process unbounded memory. */
  live: {
    /** Unsent bytes one connection may hold before it is closed (1013) as a slow consumer. */
    sendBufferBytes: number;
    /** How long a replay waits for a client to read before it is closed as a slow consumer. */
    slowConsumerMs: number;
    maxSubscriptions: number;
    maxConnections: number;
    /** Ping interval; a client that has not answered the previous ping is dropped. */
    heartbeatMs: number;
  };
  /** Webhook delivery (contract v3, Webhooks), run by worker processes. */
  webhooks: {
    /** The longest wait between two tries of an event (the delays grow to it; the contract caps it at 1 min). */
    retryMaxMs: number;
    /** Webhooks one worker process delivers to at once (one job per webhook; a slow receiver holds one). */
    concurrency: number;
    /** How often each worker process looks for webhooks with events to deliver. */
    pollMs: number;
  };
}

/** The injection token of the validated AppConfig: `@Inject(APP_CONFIG) config: AppConfig`. */
export const APP_CONFIG = Symbol('AppConfig');

/** Thrown at start when a variable is missing or malformed; the message names each one. */
export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

/** The local default; refused in production. */
const DEV_ADMIN_TOKEN = 'dev-admin-token';
/** The deployment examples' placeholders (deploy/k8s/secret.yaml) start so; refused in production. */
const isPlaceholder = (token: string): boolean => /^change-?me/i.test(token);

export function parseConfig(env: Env): AppConfig {
  const problems: string[] = [];
  const read = (name: string, fallback: string): string => {
    const value = env[name];
    return value === undefined || value === '' ? fallback : value.trim();
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name, String(fallback));
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const oneOf = <T extends string>(name: string, fallback: T, allowed: readonly T[]): T => {
    const raw = read(name, fallback);
    if (!allowed.includes(raw as T))
      problems.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
    return raw as T;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = read(name, String(fallback)).toLowerCase();
    if (!['true', 'false', '1', '0'].includes(raw))
      problems.push(`${name} must be true or false (got "${raw}")`);
    return raw === 'true' || raw === '1';
  };

  /** An optional number on a grid (step), min..max; unset or empty: null (no limit). */
  const optionalNumber = (name: string, min: number, max: number, step: number): number | null => {
    const raw = read(name, '');
    if (raw === '') return null;
    const value = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || value < min || value > max || !Number.isInteger(value / step)) {
      problems.push(
        `${name} must be a number from ${min} to ${max} in steps of ${step}, or unset (got "${raw}")`,
      );
      return null;
    }
    return value;
  };

  const databaseUrl = read('DATABASE_URL', 'postgres://postgres:postgres@127.0.0.1:5432/courseflow');
  if (!/^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(databaseUrl)) {
    problems.push('DATABASE_URL must look like postgres://user:password@host:5432/database');
  }
  const adminToken = read('ADMIN_TOKEN', DEV_ADMIN_TOKEN);
  if (adminToken.length < 8) problems.push('ADMIN_TOKEN must be at least 8 characters');
  const clientTokens = read('CLIENT_TOKENS', '')
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token !== '');
  if (clientTokens.some((token) => token.length < 16 || /\s/.test(token))) {
    problems.push(
      'CLIENT_TOKENS must be a comma-separated list of tokens of at least 16 characters, without spaces',
    );
  }
  const allowAnonymousClients = bool('ALLOW_ANONYMOUS_CLIENTS', false);
  if (env.NODE_ENV === 'production') {
    // A token everybody can read in this repository opens nothing in production.
    if (adminToken === DEV_ADMIN_TOKEN || isPlaceholder(adminToken))
      problems.push('ADMIN_TOKEN must be set to a secret of your own in production');
    if (clientTokens.some(isPlaceholder))
      problems.push('CLIENT_TOKENS must not hold a change-me placeholder in production');
    if (/:change-?me[^@]*@/i.test(databaseUrl))
      problems.push(
        "DATABASE_URL must carry the database's real password in production, not the change-me placeholder",
      );
    if (clientTokens.length === 0 && !allowAnonymousClients) {
      problems.push(
        'CLIENT_TOKENS must be set in production (or ALLOW_ANONYMOUS_CLIENTS=true to let anyone act for any student)',
      );
    }
  }
  /** `host:port,host:port`, each port 1..65535; required when the mode needs it. */
  const hostPorts = (name: string, required: boolean): HostPort[] => {
    const raw = read(name, '');
    if (raw === '') {
      if (required) problems.push(`${name} must list host:port,host:port`);
      return [];
    }
    return raw.split(',').flatMap((part) => {
      const match = /^\s*(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})\s*$/.exec(part);
      const port = Number(match?.[2]);
      if (!match || port < 1 || port > 65535) {
        problems.push(`${name} must list host:port,host:port (got "${part.trim()}")`);
        return [];
      }
      return [{ host: match[1].replace(/^\[|\]$/g, ''), port }];
    });
  };
  const redisConfig = (): RedisConfig => {
    const mode = oneOf('REDIS_MODE', 'single', REDIS_MODES);
    const sentinelName = read('REDIS_SENTINEL_NAME', '');
    if (mode === 'sentinel' && sentinelName === '') {
      problems.push('REDIS_SENTINEL_NAME must name the master the sentinels watch');
    }
    return {
      mode,
      host: read('REDIS_HOST', '127.0.0.1'),
      port: int('REDIS_PORT', 6379, 1, 65535),
      sentinels: hostPorts('REDIS_SENTINELS', mode === 'sentinel'),
      sentinelName,
      nodes: hostPorts('REDIS_NODES', mode === 'cluster'),
      waitReplicas: int('REDIS_WAIT_REPLICAS', 0, 0, 16),
      waitTimeoutMs: int('REDIS_WAIT_TIMEOUT_MS', 500, 1, 60_000),
    };
  };

  const queuePrefix = read('QUEUE_PREFIX', 'courseflow');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(queuePrefix)) {
    problems.push(`QUEUE_PREFIX must be 1..64 of [A-Za-z0-9_-] (got "${queuePrefix}")`);
  }

  const config: AppConfig = {
    role: oneOf('ROLE', 'all', ROLES),
    serverPort: int('SERVER_PORT', 8000, 1, 65535),
    databaseUrl,
    redis: redisConfig(),
    adminToken,
    clientTokens,
    queuePrefix,
    allocationPartitions: int('ALLOCATION_PARTITIONS', 4, 1, 1024),
    workerConcurrency: int('WORKER_CONCURRENCY', 1, 1, 256),
    allocationBatchMax: int('ALLOCATION_BATCH_MAX', 100, 1, 5000),
    decisionBatchMax: int('DECISION_BATCH_MAX', 1000, 1, 20000),
    deadLetterAttempts: int('DEAD_LETTER_ATTEMPTS', 3, 1, 10),
    rateLimitPerStudent: int('RATE_LIMIT_PER_STUDENT', 120, 0, 1_000_000),
    rateLimitWindowMs: int('RATE_LIMIT_WINDOW_MS', 60_000, 1000, 3_600_000),
    runMigrations: bool('RUN_MIGRATIONS', true),
    idempotencyTtlSeconds: int('IDEMPOTENCY_TTL_SECONDS', 30 * 24 * 3600, 60, 365 * 24 * 3600),
    courseCacheTtlMs: int('COURSE_CACHE_TTL_MS', 5000, 0, 3_600_000),
    schedule: {
      defaultMaxCredits: optionalNumber('DEFAULT_MAX_CREDITS', 0, 200, 0.5),
      defaultMaxWaitlisted: optionalNumber('DEFAULT_MAX_WAITLISTED', 0, 100, 1),
    },
    jobLockMs: int('JOB_LOCK_MS', 15000, 1000, 600_000),
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 25000, 1000, 600_000),
    databaseStartTimeoutMs: int('DATABASE_START_TIMEOUT_MS', 30000, 0, 600_000),
    logLevel: oneOf('LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const),
    http: {
      headersTimeoutMs: int('HTTP_HEADERS_TIMEOUT_MS', 10_000, 1000, 600_000),
      requestTimeoutMs: int('HTTP_REQUEST_TIMEOUT_MS', 30_000, 1000, 600_000),
      maxConnections: int('HTTP_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
    },
    metricsAccess: oneOf('METRICS_ACCESS', 'open', ['open', 'operators'] as const),
    docsAccess: oneOf('DOCS_ACCESS', 'open', ['open', 'operators', 'off'] as const),
    live: {
      sendBufferBytes: int('WS_SEND_BUFFER_BYTES', 1024 * 1024, 16 * 1024, 256 * 1024 * 1024),
      slowConsumerMs: int('WS_SLOW_CONSUMER_MS', 10_000, 100, 600_000),
      maxSubscriptions: int('WS_MAX_SUBSCRIPTIONS', 20, 1, 1000),
      maxConnections: int('WS_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
      heartbeatMs: int('WS_HEARTBEAT_MS', 30_000, 100, 600_000),
    },
    webhooks: {
      retryMaxMs: int('WEBHOOK_RETRY_MAX_MS', 60_000, 1000, 60_000),
      concurrency: int('WEBHOOK_CONCURRENCY', 16, 1, 256),
      pollMs: int('WEBHOOK_POLL_MS', 250, 50, 60_000),
    },
  };
  if (config.http.headersTimeoutMs > config.http.requestTimeoutMs) {
    problems.push('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS');
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  return config;
}

/** Provides the AppConfig parsed once in main.ts (or a test) to every module. */
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      global: true,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
