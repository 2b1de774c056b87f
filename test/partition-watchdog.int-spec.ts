import { jest } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, type Worker } from 'bullmq';
import { PartitionWorkers } from '../src/allocation/partition-workers.js';
import { AllocationQueues } from '../src/queue/allocation-queues.js';
import { partitionOf } from '../src/queue/allocation-queue.contract.js';
import { eventually, http, newCourse, newRequest, startApp, useWorld } from './support/test-app.js';

/**
 * A partition worker that stops taking jobs without a word (what a blocking connection that never wakes up
 * after a Redis Cluster failover looks like) is replaced by the watchdog, and the waiting requests are
 * decided. The stand-in for the dead connection: BullMQ's own pause of that one worker.
 */
describe('the partition watchdog', () => {
  const ctx = useWorld({ appEnv: { ROLE: 'all' } });

  it('replaces a worker that takes no job while its partition has some waiting, and they are decided', async () => {
    const courseId = await newCourse(ctx.baseUrl, 10);
    const processor = ctx.app.app.get(PartitionWorkers) as unknown as { workers: Worker[] };
    await eventually(async () => (processor.workers.length > 0 ? true : undefined), 10_000, 'the workers');
    const partition = partitionOf(courseId, ctx.app.config.allocationPartitions);
    const silent = processor.workers[partition];
    await silent.pause(true);
    // BullMQ's pause does not end a blocking wait already under way (up to drainDelay, 5 s): a job arriving
    // meanwhile would still be taken, and its batch would decide the others behind it. Out of that wait, the
    // paused worker takes nothing more.
    await sleep(6000);

    const requests = [newRequest(courseId), newRequest(courseId), newRequest(courseId)];
    for (const request of requests) {
      expect((await http(ctx.baseUrl, 'POST', '/enroll', request)).status).toBe(202);
    }
    await eventually(
      async () => {
        const answers = await Promise.all(
          requests.map((request) => http(ctx.baseUrl, 'GET', `/enrollments/${request.idempotency_key}`)),
        );
        return answers.every((answer) => answer.body.status === 'enrolled') ? true : undefined;
      },
      40_000,
      'the requests of the silent partition to be decided',
    );
    expect(processor.workers[partition]).not.toBe(silent);
  }, 60_000);

  it('opens a partition queue again when it cannot be pinned while Redis is ready, and its workers start', async () => {
    // A queue whose setup stalls: its first pin never answers (as a queue that never became ready).
    const pin = Queue.prototype.setGlobalConcurrency;
    const stalled = new Set<Queue>();
    const spy = jest.spyOn(Queue.prototype, 'setGlobalConcurrency').mockImplementation(function (
      this: Queue,
      concurrency: number,
    ) {
      if (this.name.endsWith('{p0}') && stalled.size === 0) stalled.add(this);
      if (stalled.has(this)) return new Promise(() => undefined);
      return pin.call(this, concurrency);
    });
    const worker = await startApp(ctx.world, { ROLE: 'worker' });
    try {
      const processor = worker.app.get(PartitionWorkers) as unknown as { workers: Worker[] };
      const queues = worker.app.get(AllocationQueues);
      // Partition 0's first queue never pins; the one opened in its place does, and the workers start.
      await eventually(
        async () => (queues.all[0] && !stalled.has(queues.all[0]) ? true : undefined),
        30_000,
        'partition 0 opened again',
      );
      await eventually(
        async () =>
          processor.workers.every((partitionWorker) => partitionWorker.isRunning()) ? true : undefined,
        // ~0.1 s here when idle; the other partitions' pins and the bounded read of failed jobs (up to 2 s
        // each) come first, and a fresh-clone CI run, the bench smoke test beside it, needed more than 10 s.
        30_000,
        'every partition worker running',
      ).catch((error: Error) => {
        // Which ones, should it ever fail again.
        const running = processor.workers.map((partitionWorker) => partitionWorker.isRunning());
        throw new Error(`${error.message}; running: ${JSON.stringify(running)}`);
      });
      expect(processor.workers).toHaveLength(ctx.app.config.allocationPartitions);
    } finally {
      spy.mockRestore();
      await worker.close();
    }
  }, 60_000);
});
