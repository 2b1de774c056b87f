import { connect } from './support/db-client.js';
import { outcomesVersusReference, sendInOrder } from './support/arbitration.js';
import { eventually, newCourse, startApp, type TestApp, useWorld } from './support/test-app.js';

/**
 * docs/guarantees.md §4: the queue is filled first with the workers stopped, then two worker processes with
 * concurrency 4 each drain it, reading ahead DECISION_BATCH_MAX requests at a time. Every course must come
 * out exactly as a sequential decider would decide it: higher priority first, equal priority in acceptance
 * order.
 */
describe('arbitration order with several workers', () => {
  const ctx = useWorld({ env: { ALLOCATION_PARTITIONS: '3' }, appEnv: { ROLE: 'api' } });
  let workers: TestApp[] = [];

  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.close()));
    workers = [];
  });

  // 1: one job per transaction; 7: batches end inside a job's run of requests; 1000: the whole queue at once.
  it.each(['1', '7', '1000'])(
    'decides each course strictly by priority, then acceptance order, with DECISION_BATCH_MAX=%s',
    async (decisionBatchMax) => {
      const capacities = [10, 4, 1, 0];
      const courseIds = await Promise.all(capacities.map((capacity) => newCourse(ctx.baseUrl, capacity)));
      const sent = await sendInOrder(ctx.baseUrl, courseIds, 160, `order${decisionBatchMax}`);

      const env = { ROLE: 'worker', WORKER_CONCURRENCY: '4', DECISION_BATCH_MAX: decisionBatchMax };
      workers = await Promise.all([startApp(ctx.world, env), startApp(ctx.world, env)]);
      const db = await connect(ctx.world.database.url);
      try {
        await eventually(
          async () => {
            const { rows } = await db.query(
              'SELECT count(*)::int AS n FROM decisions WHERE course_id = ANY($1::int[])',
              [courseIds],
            );
            return rows[0].n === sent.length ? true : undefined;
          },
          60_000,
          'every decision',
        );
      } finally {
        await db.end();
      }
      const { actual, expected } = await outcomesVersusReference(ctx.baseUrl, sent, courseIds, capacities);
      expect(actual).toEqual(expected);
    },
  );
});
