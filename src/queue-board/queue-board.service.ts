import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Express } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { AllocationQueues } from '../queue/allocation-queues.js';
import { operatorAuth } from '../auth/operator-auth.middleware.js';

/** Where the queue console is served, on processes that serve the API. */
export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * Bull Board over every partition queue, for operators. Read-only: a job retried, promoted or removed by
 * hand, a paused partition or a changed global concurrency would break the order the workers keep, so the
 * board refuses every change (405) and offers none. It reads the queue owner's queues (the shared Redis client).
 */
@Injectable()
export class QueueBoardService implements OnModuleInit {
  constructor(
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(AllocationQueues) private readonly queues: AllocationQueues,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Mounted on Express itself, after Nest's routes and before its not-found handler: the board is an
   * Express router of its own with paths relative to where it is mounted.
   */
  onModuleInit(): void {
    const board = new ExpressAdapter();
    board.setBasePath(QUEUE_BOARD_PATH);
    createBullBoard({
      queues: this.queues.all.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
      serverAdapter: board,
      options: { uiConfig: { boardTitle: 'CourseFlow queues' } },
    });
    this.adapterHost.httpAdapter
      .getInstance<Express>()
      .use(QUEUE_BOARD_PATH, operatorAuth(this.config.adminToken), board.getRouter());
  }
}
