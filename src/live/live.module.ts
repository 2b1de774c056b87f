import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module.js';
import { AsyncApiController } from './asyncapi.controller.js';
import { EventFeed } from './event-feed.service.js';
import { LiveGateway } from './live.gateway.js';
import { LiveMetrics, liveMetricProviders } from './live-metrics.js';

/** Live events on /ws, for processes that serve the API. */
@Module({
  imports: [EventsModule],
  controllers: [AsyncApiController],
  providers: [EventFeed, LiveGateway, LiveMetrics, ...liveMetricProviders],
  exports: [LiveGateway],
})
export class LiveModule {}
