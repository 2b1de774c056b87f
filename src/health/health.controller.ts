import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { HealthCheckService, type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import type { Response } from 'express';
import { REDIS_CLIENT, type RedisClient, redisAddress } from '../redis/redis-client.js';
import { mastersAnswer, probeRedisNodes, type RedisNodeReport } from '../redis/redis-topology.js';
import { DataSource } from 'typeorm';
import { OpenToAnyone } from '../auth/client-token.guard.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { databaseAddress } from '../database/data-source.js';
import { DependencyCheckResponse, LivenessResponse, ReadinessResponse } from './dto/health.response.js';

/** Seconds a load balancer may wait before asking again when not ready (as every 503 says). */
const RETRY_AFTER_SECONDS = 2;

/** A hung dependency must not hang the probe. */
const CHECK_TIMEOUT_MS = 1500;

@ApiTags('health')
@ApiExtraModels(DependencyCheckResponse)
@OpenToAnyone()
@Controller()
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.databaseAddress = databaseAddress(config.databaseUrl);
    this.redisAddress = redisAddress(config.redis);
  }

  private readonly databaseAddress: string;
  private readonly redisAddress: string;

  /** Liveness: the process answers. No dependency is checked, so an outage never restarts healthy pods. */
  @Get('health')
  @ApiOperation({
    operationId: 'getHealth',
    summary: 'Liveness: the process answers',
    description:
      'No dependency is checked, so a PostgreSQL or Redis outage never restarts a healthy process.',
  })
  @ApiOkResponse({ type: LivenessResponse, description: 'The process runs' })
  live(): LivenessResponse {
    return { status: 'ok', uptime_seconds: Math.round(process.uptime() * 10) / 10 };
  }

  /**
   * Readiness: PostgreSQL and Redis both answer within the timeout (in Sentinel and Cluster mode, every
   * master). The Redis topology is reported node by node, so an operator sees which server is away.
   */
  @Get('ready')
  @ApiOperation({
    operationId: 'getReadiness',
    summary: 'Readiness: PostgreSQL and Redis answer',
    description:
      'Both dependencies are asked, each within 1.5 s (in Sentinel and Cluster mode, every Redis master); ' +
      'the Redis servers are reported one by one.',
  })
  @ApiOkResponse({
    type: ReadinessResponse,
    description: 'Both answer',
    example: {
      status: 'ready',
      redis: 'ok',
      database: 'ok',
      redis_mode: 'single',
      redis_nodes: [{ address: '127.0.0.1:6379', role: 'master', status: 'ok' }],
      details: { database: { status: 'up' }, redis: { status: 'up' } },
    },
  })
  @ApiServiceUnavailableResponse({
    type: ReadinessResponse,
    description: 'A dependency does not answer; it is marked down',
    headers: {
      'Retry-After': {
        description: 'Seconds to wait before asking again',
        required: true,
        schema: { type: 'integer', minimum: 0, example: RETRY_AFTER_SECONDS },
      },
    },
    example: {
      status: 'not_ready',
      redis: 'down',
      database: 'ok',
      redis_mode: 'single',
      redis_nodes: [{ address: '127.0.0.1:6379', role: 'master', status: 'down' }],
      details: {
        database: { status: 'up' },
        redis: { status: 'down', message: 'redis unavailable at 127.0.0.1:6379' },
      },
    },
  })
  async ready(@Res({ passthrough: true }) response: Response): Promise<ReadinessResponse> {
    let nodes: RedisNodeReport[] = [];
    let details: HealthIndicatorResult;
    try {
      details = (await this.health.check(this.checks((probed) => (nodes = probed)))).details;
    } catch (error) {
      // Terminus reports a failed check as a 503 whose body carries every indicator's details.
      details = ((error as { response?: { details?: HealthIndicatorResult } }).response?.details ??
        {}) as HealthIndicatorResult;
    }
    const state = (key: string) => (details[key]?.status === 'up' ? 'ok' : 'down');
    const ready = state('database') === 'ok' && state('redis') === 'ok';
    response.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    if (!ready) response.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
    return {
      status: ready ? 'ready' : 'not_ready',
      redis: state('redis'),
      database: state('database'),
      redis_mode: this.config.redis.mode,
      redis_nodes: nodes,
      details,
    };
  }

  /** A failed check names the dependency and where it is expected, not the driver's words. */
  private checks(reportNodes: (nodes: RedisNodeReport[]) => void) {
    const probe = (key: 'database' | 'redis', where: string, ping: () => Promise<unknown>) => () =>
      this.indicators
        .check(key)
        .attempt(async () => {
          try {
            await ping();
          } catch {
            throw new Error(`${key} unavailable at ${where}`);
          }
        })
        .withTimeout(CHECK_TIMEOUT_MS);
    return [
      probe('database', this.databaseAddress, () => this.dataSource.query('SELECT 1')),
      probe('redis', this.redisAddress, async () => {
        const nodes = await probeRedisNodes(this.redis, this.config.redis);
        reportNodes(nodes);
        if (!mastersAnswer(nodes)) throw new Error('a master does not answer');
      }),
    ];
  }
}
