import { Module } from '@nestjs/common';
import { QueueBoardService } from './queue-board.service.js';

/** The operators' queue console at /admin/queues (see QueueBoardService); API processes only. */
@Module({ providers: [QueueBoardService] })
export class QueueBoardModule {}
