import {
  IDEMPOTENCY_KEY_HEADER_PATTERN,
  IDEMPOTENCY_KEY_PATTERN,
  STUDENT_ID_PATTERN,
} from '../decisions/vocabulary.js';
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
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { EnrollRequestDto } from './dto/enroll-request.dto.js';
import { RequestEventsResponse } from '../events/dto/course-event.response.js';
import { EnrollmentRequestResponse } from '../decisions/dto/enrollment-request.response.js';
import { EnrollmentService, KEY_MISMATCH, KEY_MISSING, SWAP_FOR_ITSELF } from './enrollment.service.js';
import { ForClients } from '../auth/client-token.guard.js';
import {
  ApiBodyRefused,
  ApiDependencyUnavailable,
  ApiErrorResponse,
  ApiRateLimited,
} from '../http/error.response.js';
import { StudentRateLimitGuard } from './student-rate-limit.guard.js';
import { IdempotencyKeyParamPipe, StudentIdParamPipe } from './path-parameter.pipes.js';
import { ApiCrossFieldRules } from '../http/cross-field-rules.js';

/** The idempotency key's rules, wherever it travels: the body field, the header, the path. */
const IDEMPOTENCY_KEY_SCHEMA = {
  type: 'string',
  pattern: IDEMPOTENCY_KEY_PATTERN.source,
  minLength: 1,
  maxLength: 128,
} as const;

const ApiIdempotencyKeyParam = () =>
  ApiParam({
    name: 'idempotency_key',
    description: 'The key the request was sent with (URL-encoded), as the Location of POST /enroll names it',
    schema: { ...IDEMPOTENCY_KEY_SCHEMA, example: 'portal-7f3a9c1e' },
  });

const ApiEnrollmentNotFound = () =>
  ApiErrorResponse(404, 'Unknown idempotency key', 'no request with idempotency_key portal-7f3a9c1e');

/** From an accepted request to what reads, changes or withdraws it (OpenAPI links). */
const byKey = (operationId: string, description: string) => ({
  operationId,
  parameters: { idempotency_key: '$response.body#/idempotency_key' },
  description,
});
const REQUEST_LINKS = {
  GetEnrollment: byKey('getEnrollment', 'The request as it stands: poll it for the decision'),
  ListEnrollmentEvents: byKey('listEnrollmentEvents', 'Everything that happened to the request'),
  AcceptOffer: byKey('acceptOffer', 'Take the seat it is offered'),
  DropEnrollment: byKey('dropEnrollment', 'Withdraw it: drop the seat, leave the waitlist or cancel it'),
  ListStudentRequests: {
    operationId: 'listStudentRequests',
    parameters: { student_id: '$response.body#/student_id' },
    description: "The student's requests, this one among them",
  },
  GetStudentSchedule: {
    operationId: 'getStudentSchedule',
    parameters: { student_id: '$response.body#/student_id' },
    description: "The student's schedule, with this request once it holds a seat or a place",
  },
};

/** Where a request's state can be read: sent with 202 and with the 200 of a replay. */
const LOCATION = {
  Location: {
    description: 'Where to read the request: /enrollments/<idempotency_key>, the key URL-encoded',
    required: true,
    schema: { type: 'string', example: '/enrollments/portal-7f3a9c1e' },
  },
};

@ApiTags('enrollment')
@ForClients()
@ApiDependencyUnavailable()
@Controller()
export class EnrollmentController {
  constructor(@Inject(EnrollmentService) private readonly enrollmentService: EnrollmentService) {}

  @Post('enroll')
  @UseGuards(StudentRateLimitGuard)
  @HttpCode(202)
  @ApiOperation({
    operationId: 'enroll',
    summary: 'Ask for a seat in a course',
    description:
      'Accepted requests are queued (202) and decided by priority, then in the order accepted: poll the ' +
      'Location, or follow the request on /ws. The idempotency key (in the body or the Idempotency-Key ' +
      'header) identifies the request: sending it again with the same payload answers 200 with the request ' +
      'as it stands, never a second seat; with another student, course, priority or swap_for it is a 422. ' +
      'With swap_for, the request replaces another request of the same student if, and only if, it gets ' +
      'its seat: the other one is dropped (reason swapped) in the same transaction.',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Instead of the idempotency_key field (one of the two is required; both must then be equal). As a ' +
      'header, a key cannot begin or end with a space: HTTP does not count those as part of the value',
    schema: {
      ...IDEMPOTENCY_KEY_SCHEMA,
      pattern: IDEMPOTENCY_KEY_HEADER_PATTERN.source,
      example: 'portal-7f3a9c1e',
    },
  })
  @ApiCrossFieldRules(KEY_MISSING, KEY_MISMATCH, SWAP_FOR_ITSELF)
  @ApiAcceptedResponse({
    type: EnrollmentRequestResponse,
    description: 'Queued; Location names where the outcome will be',
    headers: LOCATION,
    links: REQUEST_LINKS,
  })
  @ApiOkResponse({
    type: EnrollmentRequestResponse,
    description: 'A repeat of a known key with the same payload: the request as it stands',
    headers: LOCATION,
    links: REQUEST_LINKS,
  })
  @ApiErrorResponse(
    400,
    'A field is invalid or unknown, no key was sent, the keys in body and header differ, or swap_for names the request itself',
    'priority must not be greater than 100',
    ['priority must not be greater than 100'],
  )
  @ApiErrorResponse(404, 'Unknown course', 'course_id 7 does not exist')
  @ApiErrorResponse(
    409,
    "Outside the course's registration window (for a course with an opening draw it opens prequeue_s " +
      "early), or outside the student's registration appointment (the message says when it opens or when " +
      'it closed; nothing is queued, the key is not remembered), or swap_for names a request another ' +
      'pending swap already names',
    'registration for course_id 7 opens at 2026-12-01T09:00:00.000Z',
  )
  @ApiBodyRefused()
  @ApiErrorResponse(
    422,
    'The idempotency key belongs to a request with another student, course, priority or swap_for; or ' +
      "swap_for is unknown, another student's, or for the same course",
    'idempotency_key was used for another request (priority differ)',
  )
  @ApiRateLimited()
  @ApiDependencyUnavailable(
    'the queue (Redis) is unavailable; retry later',
    'The queue or the database cannot take the request now (nothing was kept); retry with the same key',
  )
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

  @Get('enrollments/:idempotency_key')
  @ApiOperation({
    operationId: 'getEnrollment',
    summary: 'Get a request as it stands',
    description:
      'queued until decided; then enrolled, waitlisted (with its place), rejected (with a reason) or ' +
      'cancelled; later only promoted (waitlisted → enrolled) or dropped.',
  })
  @ApiIdempotencyKeyParam()
  @ApiOkResponse({ type: EnrollmentRequestResponse, description: 'The request' })
  @ApiEnrollmentNotFound()
  status(@Param('idempotency_key', IdempotencyKeyParamPipe) key: string): Promise<EnrollmentRequestResponse> {
    return this.enrollmentService.status(key);
  }

  @Delete('enrollments/:idempotency_key')
  @UseGuards(StudentRateLimitGuard)
  @ApiOperation({
    operationId: 'dropEnrollment',
    summary: 'Withdraw a request, whatever its state; answers with its final state',
    description:
      'enrolled → dropped (the waitlist head is promoted in the same transaction); waitlisted → dropped ' +
      '(everyone behind moves up); offered → dropped, reason declined (the seat is offered to the next); ' +
      'queued → cancelled (its one decision); dropped or cancelled: unchanged.',
  })
  @ApiIdempotencyKeyParam()
  @ApiOkResponse({ type: EnrollmentRequestResponse, description: 'The final state: dropped or cancelled' })
  @ApiEnrollmentNotFound()
  @ApiErrorResponse(
    409,
    'The request was rejected; it holds nothing to drop',
    'request portal-7f3a9c1e was rejected; it holds no seat or waitlist place to drop',
  )
  @ApiRateLimited()
  withdraw(
    @Param('idempotency_key', IdempotencyKeyParamPipe) key: string,
  ): Promise<EnrollmentRequestResponse> {
    return this.enrollmentService.withdraw(key);
  }

  @Post('enrollments/:idempotency_key/accept')
  @HttpCode(200)
  @UseGuards(StudentRateLimitGuard)
  @ApiOperation({
    operationId: 'acceptOffer',
    summary: 'Accept the seat offered to a request (offer mode)',
    description:
      'offered → enrolled before offer_expires_at, in one transaction (its swap, if it has one, carried ' +
      'out). The deadline decides: after it, 409 even if the expiry has not run yet. A repeat answers the ' +
      'same state; DELETE declines.',
  })
  @ApiIdempotencyKeyParam()
  @ApiOkResponse({ type: EnrollmentRequestResponse, description: 'Enrolled' })
  @ApiEnrollmentNotFound()
  @ApiErrorResponse(
    409,
    "Not offered (the message names its status), the offer expired, or the student's schedule blocks it now (the offer stands until its deadline)",
    'the offer to request portal-7f3a9c1e expired at 2026-12-06T09:00:00.000Z',
  )
  @ApiRateLimited()
  accept(@Param('idempotency_key', IdempotencyKeyParamPipe) key: string): Promise<EnrollmentRequestResponse> {
    return this.enrollmentService.accept(key);
  }

  @Get('enrollments/:idempotency_key/events')
  @ApiOperation({
    operationId: 'listEnrollmentEvents',
    summary: "A request's events, in order",
    description:
      'Its decision, then any promotion or drop, as the record keeps them; folding them gives its ' +
      'current state.',
  })
  @ApiIdempotencyKeyParam()
  @ApiOkResponse({
    type: RequestEventsResponse,
    description: "The request's events in order; folding them gives its current state",
  })
  @ApiEnrollmentNotFound()
  async events(
    @Param('idempotency_key', IdempotencyKeyParamPipe) key: string,
  ): Promise<RequestEventsResponse> {
    return { events: await this.enrollmentService.events(key) };
  }

  @Get('students/:student_id/requests')
  @ApiOperation({
    operationId: 'listStudentRequests',
    summary: "A student's requests, newest first",
    description:
      'Every request of the student, queued ones included, with its current state and waitlist place.',
  })
  @ApiParam({
    name: 'student_id',
    description: 'The student_id the requests were sent with',
    schema: {
      type: 'string',
      pattern: STUDENT_ID_PATTERN.source,
      minLength: 1,
      maxLength: 64,
      example: 's-0042',
    },
  })
  @ApiOkResponse({
    type: [EnrollmentRequestResponse],
    description: "The student's requests, newest first, with current state and waitlist places",
  })
  @ApiErrorResponse(
    400,
    'student_id is not 1..64 characters of [A-Za-z0-9._:-], not . or ..',
    'student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..',
  )
  studentRequests(
    @Param('student_id', StudentIdParamPipe) studentId: string,
  ): Promise<EnrollmentRequestResponse[]> {
    return this.enrollmentService.studentRequests(studentId);
  }
}
