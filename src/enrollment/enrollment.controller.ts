import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  Post,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiOperation,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { EnrollRequestDto } from './dto/enroll-request.dto.js';
import { RequestEventsResponse } from '../events/dto/course-event.response.js';
import { EnrollmentRequestResponse } from './dto/enrollment-request.response.js';
import { EnrollmentService } from './enrollment.service.js';
import { ForClients } from '../auth/client-token.guard.js';
import { errorResponse } from '../errors/error.response.js';
import { StudentRateLimitGuard } from '../rate-limit/student-rate-limit.guard.js';
import { IdempotencyKeyParamPipe, StudentIdParamPipe } from './path-parameter.pipes.js';

@ApiTags('enrollment')
@ForClients()
@Controller()
export class EnrollmentController {
  constructor(@Inject(EnrollmentService) private readonly enrollmentService: EnrollmentService) {}

  @Post('enroll')
  @UseGuards(StudentRateLimitGuard)
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
  @ApiConflictResponse(
    errorResponse(
      409,
      "Outside the course's registration window; the message says when it opens or when it closed",
      'registration for course_id 7 opens at 2026-12-01T09:00:00.000Z',
    ),
  )
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
  status(@Param('idempotencyKey', IdempotencyKeyParamPipe) key: string): Promise<EnrollmentRequestResponse> {
    return this.enrollmentService.status(key);
  }

  @Delete('enrollments/:idempotencyKey')
  @UseGuards(StudentRateLimitGuard)
  @ApiOperation({
    summary: 'Withdraw a request, whatever its state; answers with its final state',
    description:
      'enrolled → dropped (the waitlist head is promoted in the same transaction); waitlisted → dropped ' +
      '(everyone behind moves up); queued → cancelled (its one decision); dropped or cancelled: unchanged.',
  })
  @ApiOkResponse({ type: EnrollmentRequestResponse, description: 'The final state: dropped or cancelled' })
  @ApiNotFoundResponse(
    errorResponse(404, 'Unknown idempotency key', 'no request with idempotency_key portal-7f3a9c1e'),
  )
  @ApiConflictResponse(
    errorResponse(
      409,
      'The request was rejected; it holds nothing to drop',
      'request portal-7f3a9c1e was rejected; it holds no seat or waitlist place to drop',
    ),
  )
  @ApiServiceUnavailableResponse(
    errorResponse(
      503,
      'A dependency is unavailable; see Retry-After',
      'the database (PostgreSQL) is unavailable; retry later',
    ),
  )
  withdraw(
    @Param('idempotencyKey', IdempotencyKeyParamPipe) key: string,
  ): Promise<EnrollmentRequestResponse> {
    return this.enrollmentService.withdraw(key);
  }

  @Get('enrollments/:idempotencyKey/events')
  @ApiOkResponse({
    type: RequestEventsResponse,
    description: "The request's events in order; folding them gives its current state",
  })
  @ApiNotFoundResponse(
    errorResponse(404, 'Unknown idempotency key', 'no request with idempotency_key portal-7f3a9c1e'),
  )
  async events(
    @Param('idempotencyKey', IdempotencyKeyParamPipe) key: string,
  ): Promise<RequestEventsResponse> {
    return { events: await this.enrollmentService.events(key) };
  }

  @Get('students/:studentId/requests')
  @ApiOkResponse({
    type: [EnrollmentRequestResponse],
    description: "The student's requests, newest first, with current state and waitlist places",
  })
  @ApiBadRequestResponse(
    errorResponse(
      400,
      'student_id is not 1..64 characters of [A-Za-z0-9._:-]',
      'student_id must be 1..64 characters of [A-Za-z0-9._:-]',
    ),
  )
  studentRequests(
    @Param('studentId', StudentIdParamPipe) studentId: string,
  ): Promise<EnrollmentRequestResponse[]> {
    return this.enrollmentService.studentRequests(studentId);
  }
}
