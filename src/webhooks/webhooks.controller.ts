import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { AdminTokenGuard, ApiAdminTokenInvalid } from '../auth/admin-token.guard.js';
import { ApiCourseNotFound } from '../courses/course-id.pipe.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { withCursor } from '../events/events.service.js';
import { ApiBodyRefused, ApiDependencyUnavailable, ApiErrorResponse } from '../http/error.response.js';
import { CreateWebhookDto } from './dto/create-webhook.dto.js';
import { DeliveriesQuery } from './dto/deliveries.query.js';
import { WEBHOOK_ID_PATTERN, WebhookDeliveryResponse, WebhookResponse } from './dto/webhook.response.js';
import { type WebhookRecord, WebhookStore } from './webhook.store.js';

const DEFAULT_DELIVERIES = 100;

const ApiWebhookId = () =>
  ApiParam({
    name: 'id',
    description: 'A webhook id as POST /admin/webhooks returned it',
    schema: { type: 'string', pattern: WEBHOOK_ID_PATTERN.source, example: '3' },
  });
const ApiUnknownWebhook = () => ApiErrorResponse(404, 'No webhook with this id', 'no webhook with id 3');

/** Webhooks (contract v3): operators register receivers; worker processes deliver to them. */
@ApiTags('webhooks')
@ApiBearerAuth('admin')
@UseGuards(AdminTokenGuard)
@ApiAdminTokenInvalid()
@ApiDependencyUnavailable()
@Controller('admin/webhooks')
export class WebhooksController {
  constructor(@Inject(WebhookStore) private readonly store: WebhookStore) {}

  @Post()
  @ApiOperation({
    operationId: 'createWebhook',
    summary: 'Register a receiver of the record (operators)',
    description:
      'Every selected event committed after this call is POSTed to url as { webhook_id, event }, signed ' +
      'in the CourseFlow-Signature header (t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw ' +
      'body>")>), until a 2xx comes within 10 s; retried with delays growing to a minute for as long as ' +
      "it takes. A course's events arrive in commit order; at least once (dedupe by event.id). The " +
      'secret is never shown again.',
  })
  @ApiCreatedResponse({ type: WebhookResponse, description: 'Registered; the secret is not shown again' })
  @ApiErrorResponse(
    400,
    'url is not http or https, an event type is unknown, or the secret is not 16..256 characters',
    'secret must be 16..256 printable ASCII characters without spaces',
  )
  @ApiCourseNotFound()
  @ApiBodyRefused()
  async create(@Body() dto: CreateWebhookDto): Promise<WebhookResponse> {
    const created = await this.store.create({
      url: dto.url,
      secret: dto.secret,
      events: dto.events,
      courseId: dto.course_id ?? null,
    });
    return viewOf(created);
  }

  @Get()
  @ApiOperation({
    operationId: 'listWebhooks',
    summary: 'The registered webhooks, oldest first (operators)',
    description: 'Each with its url, events and course; never its secret.',
  })
  @ApiOkResponse({ type: [WebhookResponse], description: 'Every webhook, without its secret' })
  async list(): Promise<WebhookResponse[]> {
    return (await this.store.list()).map(viewOf);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteWebhook',
    summary: 'Remove a webhook (operators)',
    description: 'Nothing more is delivered to it; a try in flight may still arrive.',
  })
  @ApiWebhookId()
  @ApiNoContentResponse({ description: 'Removed' })
  @ApiUnknownWebhook()
  async remove(@Param('id') id: string): Promise<void> {
    if (!WEBHOOK_ID_PATTERN.test(id) || !(await this.store.remove(id))) throw notFound(id);
  }

  @Get(':id/deliveries')
  @ApiOperation({
    operationId: 'listWebhookDeliveries',
    summary: "A webhook's undelivered events (operators)",
    description:
      'Per course, the next event to deliver (failing, with its tries, last error and next attempt, once ' +
      "a try failed) and the events behind it (pending: not tried yet, as a course's events go in order); " +
      'failing first, then by course and commit order.',
  })
  @ApiWebhookId()
  @ApiOkResponse({ type: [WebhookDeliveryResponse], description: 'The undelivered events, at most limit' })
  @ApiErrorResponse(400, 'state or limit is invalid', 'state must be one of failing, pending', [
    'state must be one of failing, pending',
  ])
  @ApiUnknownWebhook()
  async deliveries(
    @Param('id') id: string,
    @Query() query: DeliveriesQuery,
  ): Promise<WebhookDeliveryResponse[]> {
    const webhook = WEBHOOK_ID_PATTERN.test(id) ? await this.store.get(id) : null;
    if (!webhook) throw notFound(id);
    const undelivered = await this.store.undelivered(webhook, query.state, query.limit ?? DEFAULT_DELIVERIES);
    return undelivered.map((delivery) => ({
      event: withCursor(delivery.event),
      attempts: delivery.attempts,
      last_error: delivery.lastError,
      next_attempt_at: delivery.nextAttemptAt?.toISOString() ?? null,
    }));
  }
}

const notFound = (id: string) =>
  new DomainError(
    DomainErrorCode.WebhookNotFound,
    WEBHOOK_ID_PATTERN.test(id)
      ? `no webhook with id ${id}`
      : 'no webhook with that id: ids are decimal digits without leading zeros',
  );

const viewOf = (webhook: WebhookRecord): WebhookResponse => ({
  id: webhook.id,
  url: webhook.url,
  events: webhook.events,
  course_id: webhook.courseId,
  created_at: webhook.createdAt.toISOString(),
});
