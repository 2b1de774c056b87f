import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import {
  HealthCheckService,
  type HealthIndicatorResult,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import type { Response } from 'express';
import { Redis } from 'ioredis';

/** A hung dependency must not hang the probe. */
const CHECK_TIMEOUT_MS = 1500;

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(TypeOrmHealthIndicator) private readonly database: TypeOrmHealthIndicator,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(Redis) private readonly redis: Redis,
  ) {}

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

  private checks() {
    return [
      () => this.database.pingCheck('database').withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicators
          .check('redis')
          .attempt(async () => {
            await this.redis.ping();
          })
          .withTimeout(CHECK_TIMEOUT_MS),
    ];
  }
}
