import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Queue } from 'bullmq';
import type { Express } from 'express';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { partitionQueueNames } from '../queue/allocation-queue.contract.js';
import { operatorAuth } from '../auth/operator-auth.middleware.js';

/** Where the queue console is served, on processes that serve the API. */
export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * Bull Board over every partition queue, for operators. Read-only: a job retried, promoted or removed by
 * hand, a paused partition or a changed global concurrency would break the order the workers keep, so the
 * board refuses every change (405) and offers none. It reads through the process's shared Redis client.
 */
@Injectable()
export class QueueBoardService implements OnModuleInit, OnApplicationShutdown {
  private readonly queues: Queue[];

  constructor(
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.queues = partitionQueueNames(config.allocationPartitions).map((name) => {
      const queue = new Queue(name, { connection: redis, prefix: config.queuePrefix });
      // Availability is logged once per change by the shared client; these would repeat it per queue.
      queue.on('error', () => undefined);
      return queue;
    });
  }

  /**
   * Mounted on Express itself, after Nest's routes and before its not-found handler: the board is an
   * Express router of its own with paths relative to where it is mounted.
   */
  onModuleInit(): void {
    const board = new ExpressAdapter();
    board.setBasePath(QUEUE_BOARD_PATH);
    createBullBoard({
      queues: this.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
      serverAdapter: board,
      options: { uiConfig: { boardTitle: 'CourseFlow queues' } },
    });
    this.adapterHost.httpAdapter
      .getInstance<Express>()
      .use(QUEUE_BOARD_PATH, operatorAuth(this.config.adminToken), board.getRouter());
  }

  // The queues share the process's Redis client, which RedisModule closes; with Redis away, BullMQ's own
  // close would wait for a connection that may never come.
  async onApplicationShutdown(): Promise<void> {
    if (this.redis.status !== 'ready') return;
    await Promise.all(this.queues.map((queue) => queue.close()));
  }
}
