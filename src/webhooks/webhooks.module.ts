import { Module } from '@nestjs/common';
import { CoursesModule } from '../courses/courses.module.js';
import { EventsService } from '../events/events.service.js';
import { WebhookDelivery } from './webhook-delivery.js';
import { WebhookDispatch } from './webhook-dispatch.js';
import { WebhookStore } from './webhook.store.js';
import { WebhooksController } from './webhooks.controller.js';

/** Webhooks for processes that serve the API: registration, removal, the undelivered list. */
@Module({
  imports: [CoursesModule],
  controllers: [WebhooksController],
  providers: [EventsService, WebhookStore],
})
export class WebhooksModule {}

/** Webhook delivery for worker processes: the BullMQ schedule and the deliverer (contract v3, Webhooks). */
@Module({
  providers: [EventsService, WebhookStore, WebhookDelivery, WebhookDispatch],
})
export class WebhookDeliveryModule {}
