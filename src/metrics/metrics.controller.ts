import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import type { Response } from 'express';
import { ForClients } from '../auth/client-token.guard.js';
import { register } from 'prom-client';

@ApiTags('operations')
@ForClients()
@Controller('metrics')
export class MetricsJsonController {
  /** The same figures as /metrics, as prom-client's JSON. */
  @Get('json')
  @ApiOperation({
    operationId: 'getMetricsJson',
    summary: 'Every metric, as JSON',
    description:
      "The same figures as /metrics, as prom-client's JSON: one object per metric, one value per series.",
  })
  @ApiOkResponse({
    description: 'Every metric of /metrics as JSON: [{ name, help, type, values: [{ labels, value }] }]',
    schema: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'help', 'type', 'values'],
        properties: {
          name: { type: 'string', example: 'courseflow_queue_depth' },
          help: { type: 'string' },
          type: { type: 'string', enum: ['counter', 'gauge', 'histogram', 'summary'] },
          aggregator: { type: 'string' },
          values: {
            type: 'array',
            items: {
              type: 'object',
              required: ['value', 'labels'],
              properties: {
                value: {
                  type: 'number',
                  nullable: true,
                  description: 'null for a figure not measured yet (NaN, e.g. the event-loop lag at start)',
                },
                metricName: { type: 'string', description: 'A histogram series: _bucket, _sum or _count' },
                labels: {
                  type: 'object',
                  additionalProperties: { oneOf: [{ type: 'string' }, { type: 'number' }] },
                },
              },
            },
          },
        },
      },
    },
  })
  json() {
    return register.getMetricsAsJSON();
  }
}

/** /metrics in Prometheus' text format: prom-client's controller, documented as the clients' and the operators'. */
@ForClients()
@ApiTags('operations')
@Controller()
export class MetricsController extends PrometheusController {
  @Get()
  @ApiOperation({
    operationId: 'getMetrics',
    summary: 'Every metric, in the Prometheus text format',
    description:
      'Requests by status, accept-to-decision latency, queue depth, seats and capacity per course, dead ' +
      'letters, live connections, and the process defaults.',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Every metric, in the Prometheus text format', schema: { type: 'string' } })
  override index(@Res({ passthrough: true }) response: Response): Promise<string> {
    return super.index(response);
  }
}
