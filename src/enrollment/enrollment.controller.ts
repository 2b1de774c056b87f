import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { EnrollRequestDto } from './dto/enroll-request.dto.js';
import { EnrollmentRequestResponse } from './dto/enrollment-request.response.js';
import { EnrollmentService } from './enrollment.service.js';

@ApiTags('enrollment')
@Controller()
export class EnrollmentController {
  constructor(@Inject(EnrollmentService) private readonly enrollmentService: EnrollmentService) {}

  @Post('enroll')
  @HttpCode(202)
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Instead of the idempotency_key field',
  })
  @ApiAcceptedResponse({
    type: EnrollmentRequestResponse,
    description: 'Queued; Location names where the outcome will be',
    headers: { Location: { description: '/enrollments/<idempotency_key>', schema: { type: 'string' } } },
  })
  @ApiOkResponse({
    type: EnrollmentRequestResponse,
    description: 'A repeat of a known key: the request as it stands',
  })
  @ApiBadRequestResponse({
    description: 'A field is invalid or unknown, or the keys in body and header differ',
  })
  @ApiNotFoundResponse({ description: 'Unknown course' })
  @ApiUnprocessableEntityResponse({ description: 'The idempotency key belongs to a different request' })
  @ApiServiceUnavailableResponse({ description: 'The queue cannot take the request now; see Retry-After' })
  async enroll(
    @Body() dto: EnrollRequestDto,
    @Headers('idempotency-key') headerKey: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<EnrollmentRequestResponse> {
    const { accepted, request } = await this.enrollmentService.submit(dto, headerKey);
    response.status(accepted ? 202 : 200);
    response.location(`/enrollments/${encodeURIComponent(request.idempotency_key)}`);
    return request;
  }

  @Get('enrollments/:idempotencyKey')
  @ApiOkResponse({ type: EnrollmentRequestResponse })
  @ApiNotFoundResponse({ description: 'Unknown idempotency key' })
  status(@Param('idempotencyKey') key: string): Promise<EnrollmentRequestResponse> {
    return this.enrollmentService.status(key);
  }
}
