import { ApiProperty } from '@nestjs/swagger';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import { ClosedSchema } from '../../http/closed-schema.js';

/** GET /health: the process answers. */
@ClosedSchema()
export class LivenessResponse {
  @ApiProperty({ enum: ['ok'], example: 'ok' })
  status!: 'ok';

  @ApiProperty({ type: Number, minimum: 0, example: 12.3, description: 'Seconds since the process started' })
  uptime_seconds!: number;
}

/** One Redis server the probe asked, so an operator sees which one is away. */
@ClosedSchema()
export class RedisNodeResponse {
  @ApiProperty({ example: '127.0.0.1:6379', description: 'host:port' })
  address!: string;

  @ApiProperty({ enum: ['master', 'replica', 'sentinel'], example: 'master' })
  role!: 'master' | 'replica' | 'sentinel';

  @ApiProperty({ enum: ['ok', 'down'], example: 'ok' })
  status!: 'ok' | 'down';
}

/** What one dependency's check found (Terminus' indicator result). */
@ClosedSchema()
export class DependencyCheckResponse {
  @ApiProperty({ enum: ['up', 'down'], example: 'down' })
  status!: 'up' | 'down';

  @ApiProperty({
    required: false,
    example: 'database unavailable at 127.0.0.1:5432/courseflow',
    description: "Why it is down: the dependency and where it is expected, never the driver's words",
  })
  message?: string;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    required: false,
    example: 2,
    description: 'How long the check took, in milliseconds (when it answered)',
  })
  responseTime?: number;
}

/** GET /ready, whether 200 or 503. */
@ClosedSchema()
export class ReadinessResponse {
  @ApiProperty({
    enum: ['ready', 'not_ready'],
    example: 'ready',
    description: 'ready (200) or not_ready (503)',
  })
  status!: 'ready' | 'not_ready';

  @ApiProperty({ enum: ['ok', 'down'], example: 'ok' })
  redis!: 'ok' | 'down';

  @ApiProperty({ enum: ['ok', 'down'], example: 'ok' })
  database!: 'ok' | 'down';

  @ApiProperty({ enum: ['single', 'sentinel', 'cluster'], example: 'single', description: 'REDIS_MODE' })
  redis_mode!: 'single' | 'sentinel' | 'cluster';

  @ApiProperty({
    type: [RedisNodeResponse],
    description:
      'Every Redis server asked (in Sentinel and Cluster mode, each one); empty if none answered in time',
  })
  redis_nodes!: RedisNodeResponse[];

  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/DependencyCheckResponse' },
    example: { database: { status: 'up' }, redis: { status: 'up' } },
    description: 'Each check (database, redis) as it went',
  })
  details!: HealthIndicatorResult;
}
