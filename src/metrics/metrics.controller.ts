import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
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
  @ApiOkResponse({
    description: 'Every metric of /metrics as JSON: [{ name, help, type, values: [{ labels, value }] }]',
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
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Every metric, in the Prometheus text format', schema: { type: 'string' } })
  override index(@Res({ passthrough: true }) response: Response): Promise<string> {
    return super.index(response);
  }
}
