import type { Redis } from 'ioredis';
import type { AcceptedRequest, QueuedRequest } from '../queue/allocation-queue.contract.js';
import { claimKey } from '../redis/redis-keys.js';

/**
 * The job's requests whose claims name this job, each key once (one MGET: a job's keys share its partition's
 * slot). A request also carried by another job (a duplicate sent while its key was being claimed) is decided
 * by the job its claim names. A request whose claim is gone (expired, or Redis lost it) is decided here:
 * PostgreSQL decides a key once anyway.
 */
export async function requestsOwnedBy(
  redis: Redis,
  queuePrefix: string,
  partition: number,
  jobId: string | undefined,
  requests: readonly QueuedRequest[],
): Promise<QueuedRequest[]> {
  if (requests.length === 0) return [];
  const stored = await redis.mget(
    ...requests.map((request) => claimKey(queuePrefix, partition, request.idempotencyKey)),
  );
  const seen = new Set<string>();
  return requests.filter((request, index) => {
    const claim = stored[index] === null ? null : (JSON.parse(stored[index]!) as AcceptedRequest);
    const owned =
      !seen.has(request.idempotencyKey) &&
      (claim === null ||
        (claim.jobId === jobId &&
          claim.studentId === request.studentId &&
          claim.courseId === request.courseId));
    if (owned) seen.add(request.idempotencyKey);
    return owned;
  });
}
