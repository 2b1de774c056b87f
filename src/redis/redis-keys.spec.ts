import { RATE_LIMIT_BUCKETS, rateLimitBucket, rateLimitKey } from './redis-keys.js';

describe('rate-limit keys', () => {
  it('spread counters over the buckets, stably, each key tagged with its bucket', () => {
    const buckets = new Set<number>();
    for (let student = 0; student < 200; student += 1) {
      const bucket = rateLimitBucket(`student:s-${student}`);
      expect(bucket).toBe(rateLimitBucket(`student:s-${student}`));
      expect(bucket).toBeGreaterThanOrEqual(0);
      expect(bucket).toBeLessThan(RATE_LIMIT_BUCKETS);
      buckets.add(bucket);
    }
    expect(buckets.size).toBe(RATE_LIMIT_BUCKETS);
    expect(rateLimitKey('cf', 3, 'student:s-1')).toBe('cf:{rate3}:rate:student:s-1');
  });
});
