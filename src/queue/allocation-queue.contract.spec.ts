import { acceptedCountsKey, claimKey } from '../redis/redis-keys.js';
import {
  batchJobIdFor,
  bullPriorityOf,
  jobIdFor,
  partitionOf,
  partitionQueueName,
  partitionQueueNames,
} from './allocation-queue.contract.js';

describe('arbitration queue helpers', () => {
  it('maps request priority 100..0 to BullMQ priority 1..101, never 0', () => {
    expect(bullPriorityOf(100)).toBe(1);
    expect(bullPriorityOf(0)).toBe(101);
    for (let priority = 1; priority <= 100; priority += 1) {
      expect(bullPriorityOf(priority)).toBeGreaterThanOrEqual(1);
      expect(bullPriorityOf(priority)).toBeLessThan(bullPriorityOf(priority - 1));
    }
  });

  it('derives job ids from idempotency keys: distinct, shaped, and free of ":"', () => {
    expect(jobIdFor('a:b:c')).toMatch(/^req-[A-Za-z0-9_-]{43}$/);
    expect(jobIdFor('a:b:c')).not.toBe(jobIdFor('a:b:d'));
    expect(jobIdFor('a:b:c')).not.toContain(':');
    expect(jobIdFor('123')).not.toMatch(/^\d+$/);
    expect(batchJobIdFor(['only'])).toBe(jobIdFor('only'));
    expect(batchJobIdFor(['a', 'b'])).toMatch(/^batch-[A-Za-z0-9_-]{43}$/);
    expect(batchJobIdFor(['a', 'b'])).not.toBe(batchJobIdFor(['b', 'a']));
    expect(batchJobIdFor(['x:1', 'y:2'])).not.toContain(':');
  });

  it('spreads courses over the partitions, every course on exactly one', () => {
    expect([0, 1, 4, 5, 7, 11].map((courseId) => partitionOf(courseId, 4))).toEqual([0, 1, 0, 1, 3, 3]);
    for (let courseId = 1; courseId < 200; courseId += 1) {
      expect(partitionOf(courseId, 16)).toBeGreaterThanOrEqual(0);
      expect(partitionOf(courseId, 16)).toBeLessThan(16);
    }
    const names = partitionQueueNames(16);
    expect(names).toHaveLength(16);
    expect(new Set(names).size).toBe(16);
    for (const name of names) expect(name).not.toContain(':');
  });

  it('puts every key one partition touches in one Redis Cluster slot (one hash tag), and partitions apart', () => {
    const tagOf = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
    // BullMQ's keys are <prefix>:<queue name>:<suffix>, so the tag in the queue name tags them all.
    const queueKey = `courseflow:${partitionQueueName(3)}:wait`;
    expect(tagOf(queueKey)).toBe('p3');
    expect(tagOf(claimKey('courseflow', 3, 'any{odd}key'))).toBe('p3');
    expect(tagOf(acceptedCountsKey('courseflow', 3))).toBe('p3');
    expect(tagOf(claimKey('courseflow', 4, 'k'))).toBe('p4');
  });
});
