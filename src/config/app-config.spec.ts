import { ConfigError, parseConfig } from './app-config.js';

describe('parseConfig', () => {
  it('has a sane default for every setting', () => {
    expect(parseConfig({})).toEqual({
      role: 'all',
      serverPort: 8000,
      databaseUrl: 'postgres://postgres:postgres@127.0.0.1:5432/courseflow',
      redis: {
        mode: 'single',
        host: '127.0.0.1',
        port: 6379,
        sentinels: [],
        sentinelName: '',
        nodes: [],
        waitReplicas: 0,
        waitTimeoutMs: 500,
      },
      adminToken: 'dev-admin-token',
      clientTokens: [],
      queuePrefix: 'courseflow',
      allocationPartitions: 4,
      workerConcurrency: 1,
      allocationBatchMax: 100,
      decisionBatchMax: 1000,
      deadLetterAttempts: 3,
      rateLimitPerStudent: 120,
      rateLimitWindowMs: 60_000,
      http: { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxConnections: 10_000 },
      metricsAccess: 'open',
      docsAccess: 'open',
      runMigrations: true,
      idempotencyTtlSeconds: 2_592_000,
      courseCacheTtlMs: 5000,
      schedule: { defaultMaxCredits: null, defaultMaxWaitlisted: null },
      jobLockMs: 15000,
      shutdownTimeoutMs: 25000,
      databaseStartTimeoutMs: 30000,
      logLevel: 'info',
      live: {
        sendBufferBytes: 1_048_576,
        slowConsumerMs: 10_000,
        maxSubscriptions: 20,
        maxConnections: 10_000,
        heartbeatMs: 30_000,
      },
      webhooks: { retryMaxMs: 60_000, concurrency: 16, pollMs: 250 },
    });
  });

  it('reads the default schedule limits, on their grids', () => {
    expect(parseConfig({ DEFAULT_MAX_CREDITS: '18.5', DEFAULT_MAX_WAITLISTED: '3' }).schedule).toEqual({
      defaultMaxCredits: 18.5,
      defaultMaxWaitlisted: 3,
    });
    for (const [name, value] of [
      ['DEFAULT_MAX_CREDITS', '18.25'],
      ['DEFAULT_MAX_CREDITS', '201'],
      ['DEFAULT_MAX_CREDITS', '-1'],
      ['DEFAULT_MAX_WAITLISTED', '2.5'],
      ['DEFAULT_MAX_WAITLISTED', '101'],
    ]) {
      expect(() => parseConfig({ [name]: value })).toThrow(name);
    }
  });

  it('reads every variable', () => {
    const config = parseConfig({
      ROLE: 'worker',
      SERVER_PORT: '9000',
      DATABASE_URL: 'postgresql://u:p@db:5432/cf',
      REDIS_HOST: 'redis',
      REDIS_PORT: '6380',
      REDIS_WAIT_REPLICAS: '1',
      REDIS_WAIT_TIMEOUT_MS: '250',
      ADMIN_TOKEN: 'a-long-admin-token',
      QUEUE_PREFIX: 'prod_1',
      ALLOCATION_PARTITIONS: '32',
      WORKER_CONCURRENCY: '8',
      ALLOCATION_BATCH_MAX: '250',
      DECISION_BATCH_MAX: '2000',
      DEAD_LETTER_ATTEMPTS: '5',
      RUN_MIGRATIONS: 'false',
      IDEMPOTENCY_TTL_SECONDS: '86400',
      COURSE_CACHE_TTL_MS: '0',
      JOB_LOCK_MS: '30000',
      SHUTDOWN_TIMEOUT_MS: '10000',
      DATABASE_START_TIMEOUT_MS: '5000',
      LOG_LEVEL: 'debug',
      CLIENT_TOKENS: ' portal-token-2026-a , portal-token-2026-b ',
      WS_SEND_BUFFER_BYTES: '65536',
      WS_SLOW_CONSUMER_MS: '2000',
      WS_MAX_SUBSCRIPTIONS: '5',
      WS_MAX_CONNECTIONS: '100',
      WS_HEARTBEAT_MS: '1000',
      WEBHOOK_RETRY_MAX_MS: '5000',
      WEBHOOK_CONCURRENCY: '4',
      WEBHOOK_POLL_MS: '100',
      RATE_LIMIT_PER_STUDENT: '30',
      RATE_LIMIT_WINDOW_MS: '10000',
      HTTP_HEADERS_TIMEOUT_MS: '5000',
      HTTP_REQUEST_TIMEOUT_MS: '15000',
      HTTP_MAX_CONNECTIONS: '500',
      METRICS_ACCESS: 'operators',
      DOCS_ACCESS: 'off',
    });
    expect(config).toMatchObject({
      role: 'worker',
      serverPort: 9000,
      databaseUrl: 'postgresql://u:p@db:5432/cf',
      redis: { mode: 'single', host: 'redis', port: 6380, waitReplicas: 1, waitTimeoutMs: 250 },
      adminToken: 'a-long-admin-token',
      queuePrefix: 'prod_1',
      allocationPartitions: 32,
      workerConcurrency: 8,
      allocationBatchMax: 250,
      decisionBatchMax: 2000,
      deadLetterAttempts: 5,
      runMigrations: false,
      idempotencyTtlSeconds: 86400,
      courseCacheTtlMs: 0,
      jobLockMs: 30000,
      shutdownTimeoutMs: 10000,
      databaseStartTimeoutMs: 5000,
      logLevel: 'debug',
      clientTokens: ['portal-token-2026-a', 'portal-token-2026-b'],
      live: {
        sendBufferBytes: 65536,
        slowConsumerMs: 2000,
        maxSubscriptions: 5,
        maxConnections: 100,
        heartbeatMs: 1000,
      },
      webhooks: { retryMaxMs: 5000, concurrency: 4, pollMs: 100 },
      rateLimitPerStudent: 30,
      rateLimitWindowMs: 10_000,
      http: { headersTimeoutMs: 5000, requestTimeoutMs: 15_000, maxConnections: 500 },
      metricsAccess: 'operators',
      docsAccess: 'off',
    });
  });

  it.each([
    ['ROLE', 'boss'],
    ['SERVER_PORT', 'abc'],
    ['SERVER_PORT', '0'],
    ['SERVER_PORT', '70000'],
    ['REDIS_PORT', '-1'],
    ['REDIS_MODE', 'replicated'],
    ['REDIS_NODES', 'redis-1'],
    ['REDIS_NODES', 'redis-1:6379,redis-2:99999'],
    ['REDIS_SENTINELS', 'sentinel-1:26379,:26379'],
    ['REDIS_WAIT_REPLICAS', '-1'],
    ['REDIS_WAIT_TIMEOUT_MS', '0'],
    ['DATABASE_URL', 'nonsense'],
    ['ADMIN_TOKEN', 'short'],
    ['WORKER_CONCURRENCY', '0'],
    ['WORKER_CONCURRENCY', '2.5'],
    ['ALLOCATION_PARTITIONS', '0'],
    ['ALLOCATION_BATCH_MAX', '0'],
    ['DECISION_BATCH_MAX', '0'],
    ['DECISION_BATCH_MAX', '20001'],
    ['DEAD_LETTER_ATTEMPTS', '0'],
    ['DEAD_LETTER_ATTEMPTS', '11'],
    ['RUN_MIGRATIONS', 'maybe'],
    ['QUEUE_PREFIX', 'has spaces'],
    ['LOG_LEVEL', 'loud'],
    ['CLIENT_TOKENS', 'short'],
    ['CLIENT_TOKENS', 'a-long-enough-token,has a space in it'],
    ['ALLOW_ANONYMOUS_CLIENTS', 'yes'],
    ['WS_SEND_BUFFER_BYTES', '1024'],
    ['WS_MAX_SUBSCRIPTIONS', '0'],
    ['WS_HEARTBEAT_MS', '10'],
    ['WEBHOOK_RETRY_MAX_MS', '120000'],
    ['WEBHOOK_CONCURRENCY', '0'],
    ['WEBHOOK_POLL_MS', '5'],
    ['RATE_LIMIT_PER_STUDENT', '-1'],
    ['RATE_LIMIT_WINDOW_MS', '10'],
    ['HTTP_HEADERS_TIMEOUT_MS', '0'],
    ['HTTP_REQUEST_TIMEOUT_MS', 'soon'],
    ['HTTP_MAX_CONNECTIONS', '0'],
    ['METRICS_ACCESS', 'public'],
    ['DOCS_ACCESS', 'hidden'],
  ])('stops with a message naming %s when it is %s', (name, value) => {
    expect(() => parseConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => parseConfig({ [name]: value })).toThrow(new RegExp(`\\b${name}\\b`));
  });

  describe('Redis topology (REDIS_MODE)', () => {
    it('reads a Sentinel deployment: the sentinels and the master name', () => {
      const { redis } = parseConfig({
        REDIS_MODE: 'sentinel',
        REDIS_SENTINELS: 'sentinel-a:26379, sentinel-b:26380,[::1]:26381',
        REDIS_SENTINEL_NAME: 'courseflow',
      });
      expect(redis).toMatchObject({
        mode: 'sentinel',
        sentinelName: 'courseflow',
        sentinels: [
          { host: 'sentinel-a', port: 26379 },
          { host: 'sentinel-b', port: 26380 },
          { host: '::1', port: 26381 },
        ],
      });
    });

    it('reads a Cluster deployment from its seed nodes', () => {
      const { redis } = parseConfig({ REDIS_MODE: 'cluster', REDIS_NODES: '10.0.0.1:7000,10.0.0.2:7001' });
      expect(redis).toMatchObject({
        mode: 'cluster',
        nodes: [
          { host: '10.0.0.1', port: 7000 },
          { host: '10.0.0.2', port: 7001 },
        ],
      });
    });

    it.each([
      ['sentinel', {}, /REDIS_SENTINELS.*REDIS_SENTINEL_NAME|REDIS_SENTINEL_NAME.*REDIS_SENTINELS/],
      ['cluster', {}, /REDIS_NODES/],
    ])('refuses %s mode without the addresses it needs', (mode, env, message) => {
      expect(() => parseConfig({ REDIS_MODE: mode, ...env })).toThrow(message);
    });
  });

  it('refuses a header deadline past the whole request deadline (Node would refuse to start the server)', () => {
    expect(() => parseConfig({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000' })).toThrow(
      /HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS/,
    );
  });

  it('names every malformed variable at once', () => {
    expect(() => parseConfig({ SERVER_PORT: 'x', REDIS_PORT: 'y', ROLE: 'z' })).toThrow(
      /SERVER_PORT.*REDIS_PORT.*ROLE|ROLE.*SERVER_PORT.*REDIS_PORT/,
    );
  });

  describe('in production (NODE_ENV=production)', () => {
    const secrets = { ADMIN_TOKEN: 'a-secret-admin-token', CLIENT_TOKENS: 'portal-token-2026-a' };

    it('starts with its own admin token and client tokens', () => {
      expect(parseConfig({ NODE_ENV: 'production', ...secrets }).clientTokens).toEqual([
        'portal-token-2026-a',
      ]);
    });

    it.each([
      ['ADMIN_TOKEN', { ...secrets, ADMIN_TOKEN: undefined }],
      ['ADMIN_TOKEN', { ...secrets, ADMIN_TOKEN: 'dev-admin-token' }],
      ['CLIENT_TOKENS', { ...secrets, CLIENT_TOKENS: undefined }],
      ['CLIENT_TOKENS', { ...secrets, CLIENT_TOKENS: ' , ' }],
      // The placeholders of deploy/k8s/secret.yaml, left in by mistake.
      ['ADMIN_TOKEN', { ...secrets, ADMIN_TOKEN: 'change-me-admin-token' }],
      ['CLIENT_TOKENS', { ...secrets, CLIENT_TOKENS: 'portal-token-2026-a,change-me-portal-token' }],
      [
        'DATABASE_URL',
        {
          ...secrets,
          DATABASE_URL: 'postgres://courseflow:change-me-database-password@postgres:5432/courseflow',
        },
      ],
    ])('refuses to start without %s of its own', (name, env) => {
      expect(() => parseConfig({ NODE_ENV: 'production', ...env })).toThrow(
        new RegExp(`\\b${name}\\b.*production`),
      );
    });

    it('serves students without a client token only when told so explicitly', () => {
      const env = {
        NODE_ENV: 'production',
        ADMIN_TOKEN: 'a-secret-admin-token',
        ALLOW_ANONYMOUS_CLIENTS: 'true',
      };
      expect(parseConfig(env).clientTokens).toEqual([]);
    });
  });
});
