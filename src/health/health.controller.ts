import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import type { Response } from 'express';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { OpenToAnyone } from '../auth/client-token.guard.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { databaseAddress } from '../database/data-source.js';
import { redisAddress } from '../redis/redis.module.js';

/** A hung dependency must not hang the probe. */
const CHECK_TIMEOUT_MS = 1500;

@ApiTags('health')
@OpenToAnyone()
@Controller()
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(Redis) private readonly redis: Redis,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.databaseAddress = databaseAddress(config.databaseUrl);
    this.redisAddress = redisAddress(config);
  }

  private readonly databaseAddress: string;
  private readonly redisAddress: string;

  /** Liveness: the process answers. No dependency is checked, so an outage never restarts healthy pods. */
  @Get('health')
  @ApiOkResponse({ schema: { example: { status: 'ok', uptime_seconds: 12.3 } } })
  live() {
    return { status: 'ok', uptime_seconds: Math.round(process.uptime() * 10) / 10 };
  }

  /** Readiness: PostgreSQL and Redis both answer within the timeout. */
  @Get('ready')
  @ApiOkResponse({ schema: { example: { status: 'ready', redis: 'ok', database: 'ok', details: {} } } })
  @ApiServiceUnavailableResponse({
    schema: { example: { status: 'not_ready', redis: 'down', database: 'ok', details: {} } },
  })
  async ready(@Res({ passthrough: true }) response: Response) {
    let details: HealthIndicatorResult;
    try {
      details = (await this.health.check(this.checks())).details;
    } catch (error) {
      // Terminus reports a failed check as a 503 whose body carries every indicator's details.
      details = ((error as { response?: { details?: HealthIndicatorResult } }).response?.details ??
        {}) as HealthIndicatorResult;
    }
    const state = (key: string) => (details[key]?.status === 'up' ? 'ok' : 'down');
    const ready = state('database') === 'ok' && state('redis') === 'ok';
    response.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return {
      status: ready ? 'ready' : 'not_ready',
      redis: state('redis'),
      database: state('database'),
      details,
    };
  }

  /** A failed check names the dependency and where it is expected, not the driver's words. */
  private checks() {
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
      probe('redis', this.redisAddress, () => this.redis.ping()),
    ];
  }
}
