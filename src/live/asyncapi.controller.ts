import { Controller, Get, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { OpenToAnyone } from '../auth/client-token.guard.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { asyncApiDocument } from './asyncapi.document.js';

/** The AsyncAPI document of /ws; kept out of the OpenAPI document, which describes HTTP only. */
@ApiExcludeController()
@OpenToAnyone()
@Controller('docs')
export class AsyncApiController {
  private readonly document: Record<string, unknown>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.document = asyncApiDocument({ serverPort: config.serverPort, live: config.live });
  }

  @Get('asyncapi.json')
  asyncApi(): Record<string, unknown> {
    return this.document;
  }
}
