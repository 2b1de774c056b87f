import { chaosProblems, failWithOutput, runChaos } from './support/chaos-run.js';

const FAULTS = [
  'cluster: no fault',
  'worker kill -9',
  'cluster: CLUSTER FAILOVER on the replica',
  'cluster: master kill -9',
  'cluster: replica cut off 1 s, then master kill -9',
];

/**
 * The same guarantees on a Redis Cluster (`CHAOS_REDIS=cluster npm run chaos`): the script starts six
 * private redis-server nodes (three masters, three replicas) and runs the service with REDIS_MODE=cluster
 * and REDIS_WAIT_REPLICAS=1; a stampede alone, then with a worker killed, the partition's master failed
 * over to its replica, the master killed, and the master killed a second after its replica was cut off,
 * so the replica promoted lacks the last writes: with WAIT, none of those was answered 202.
 * Each fault once.
 */
describe('npm run chaos on a Redis Cluster', () => {
  it('loses no accepted request, decides none twice or out of order, across failovers', async () => {
    const run = await runChaos(
      { CHAOS_REDIS: 'cluster', CHAOS_REPEAT: '1', CHAOS_FAULTS: '', CHAOS_BUDGET_S: '240' },
      300_000,
    );
    const problems = chaosProblems(run, FAULTS);
    // The API's readiness reports the topology it runs on, node by node.
    if (!/^\/ready: ready, redis_mode=cluster, 3 master ok, 3 replica ok$/m.test(run.stdout)) {
      problems.push('/ready did not report the cluster: 3 masters and 3 replicas, all answering');
    }
    failWithOutput(problems, run);
    expect(problems).toEqual([]);
  }, 310_000);
});
