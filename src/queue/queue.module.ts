import { BullModule } from '@nestjs/bullmq';
import { type DynamicModule, Module } from '@nestjs/common';
import { partitionQueueNames } from './allocation-queue.contract.js';
import { AllocationQueues, PartitionQueue } from './allocation-queues.js';
import { ClaimAndQueue } from './claim-and-queue.js';

BullModule.queueClass = PartitionQueue;

/**
 * The partition queues and their one owner, for every role: the API adds jobs, the workers take them, the
 * dead-letter retry and the queue board use the same queue objects. Global, registered once by AppModule
 * with the configured partition count.
 */
@Module({})
export class QueueModule {
  static register(options: { partitions: number }): DynamicModule {
    return {
      module: QueueModule,
      global: true,
      imports: [
        BullModule.registerQueue(
          // A forced disconnect first awaits BullMQ's client, which never resolves while Redis is away;
          // the shared client is closed by RedisModule anyway.
          ...partitionQueueNames(options.partitions).map((name) => ({
            name,
            forceDisconnectOnShutdown: false,
          })),
        ),
      ],
      providers: [AllocationQueues, ClaimAndQueue],
      exports: [AllocationQueues, ClaimAndQueue],
    };
  }
}
