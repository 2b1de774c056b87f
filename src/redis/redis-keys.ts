/**
 * Every Redis key name the service uses, in one place. Every key one partition touches together (its BullMQ
 * queue keys, the claims of the requests it carries, its counters) carries the partition's hash tag, so each
 * script and transaction stays in one Redis Cluster slot while partitions spread over the cluster's masters.
 */
export const partitionTag = (partition: number): string => `{p${partition}}`;

/** A key's claim lives in the partition of the course it was sent for, beside that partition's queue. */
export const claimKey = (queuePrefix: string, partition: number, idempotencyKey: string): string =>
  `${queuePrefix}:${partitionTag(partition)}:request:${idempotencyKey}`;

/** Per course of one partition, how many requests were ever accepted; queue depth is this minus those decided. */
export const acceptedCountsKey = (queuePrefix: string, partition: number): string =>
  `${queuePrefix}:${partitionTag(partition)}:accepted-per-course`;

/**
 * The partition's jobs that carry a request whose key another request held already: only their claims need
 * reading before deciding (see CLAIM_SCRIPT and allocation/waiting-jobs.ts).
 */
export const jobsWithDuplicatesKey = (queuePrefix: string, partition: number): string =>
  `${queuePrefix}:${partitionTag(partition)}:jobs-with-duplicates`;

/** The idempotency keys a student sent for courses of one partition (to list a student's queued requests). */
export const studentKeysKey = (queuePrefix: string, partition: number, studentId: string): string =>
  `${queuePrefix}:${partitionTag(partition)}:student:${studentId}`;

/** Rate-limit counters are spread over this many hash tags, so one script can count many students at once. */
export const RATE_LIMIT_BUCKETS = 8;

/** Which of the RATE_LIMIT_BUCKETS a counter belongs to: a cheap, stable hash of its name. */
export function rateLimitBucket(counter: string): number {
  let hash = 0;
  for (let index = 0; index < counter.length; index += 1) {
    hash = (hash * 31 + counter.charCodeAt(index)) | 0;
  }
  return (hash >>> 0) % RATE_LIMIT_BUCKETS;
}

/** A rate-limit counter (per student, across every API process), in its bucket's slot. */
export const rateLimitKey = (queuePrefix: string, bucket: number, counter: string): string =>
  `${queuePrefix}:{rate${bucket}}:rate:${counter}`;

/**
 * A course's opening-draw entries (contract v3, Fair opening), in acceptance order, until the draw is made:
 * in the partition of the course, beside the entries' claims, so one script claims a key and enters it.
 */
export const drawEntriesKey = (queuePrefix: string, partition: number, courseId: number): string =>
  `${queuePrefix}:${partitionTag(partition)}:draw-entries:${courseId}`;

/** Set when the draw takes its entries: from then on no entry joins (the API queues the request as plain). */
export const drawClosedKey = (queuePrefix: string, partition: number, courseId: number): string =>
  `${queuePrefix}:${partitionTag(partition)}:draw-closed:${courseId}`;
