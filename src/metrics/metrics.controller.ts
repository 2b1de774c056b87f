import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { register } from 'prom-client';

@ApiTags('operations')
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
