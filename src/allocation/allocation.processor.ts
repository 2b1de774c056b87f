import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { BatchDrain } from './batch-drain.js';
import { FailedJobSweep } from './failed-job-sweep.js';
import { PartitionWorkers } from './partition-workers.js';

/**
 * The worker role's glue: the partition workers hand each job, with the partition they serve, to the
 * batch drain, and each failed job to the sweep that sets its requests aside as dead letters. Started only
 * in worker and all roles (only those import AllocationModule).
 */
@Injectable()
export class AllocationProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AllocationProcessor.name);

  constructor(
    @Inject(PartitionWorkers) private readonly workers: PartitionWorkers,
    @Inject(BatchDrain) private readonly drain: BatchDrain,
    @Inject(FailedJobSweep) private readonly sweep: FailedJobSweep,
  ) {}

  /** Not awaited: with Redis away at start the process still serves /health and /ready, and takes jobs later. */
  onApplicationBootstrap(): void {
    this.workers
      .start({
        process: (partition, queue, job, token) => this.drain.run(partition, queue, job, token),
        failed: (partition, queue, jobId, reason) => this.sweep.setAside(queue, partition, jobId, reason),
      })
      .catch((error: unknown) => this.logger.error({ msg: 'allocation workers did not start', err: error }));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /** Stops taking jobs; the drains end after their current batch, and the running jobs commit. */
  async stop(): Promise<void> {
    this.drain.stop();
    await this.workers.stop();
  }
}
