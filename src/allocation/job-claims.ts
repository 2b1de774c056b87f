import type { Redis } from 'ioredis';
import type { AcceptedRequest, AllocationJobData } from '../queue/allocation-queue.contract.js';
import { claimKey } from '../redis/redis-keys.js';

/** A queue job as the worker reads it: its id and what it carries. */
export interface CarriedJob {
  id: string | undefined;
  data: AllocationJobData;
}

/**
 * Each job with only the requests whose claims name it, each key once across the whole batch (one MGET: a
 * partition's keys share its slot). A request also carried by another job (a duplicate sent while its key
 * was being claimed) is decided by the job its claim names. A request whose claim is gone (expired, or Redis
 * lost it) is decided by the first job that carries it: PostgreSQL decides a key once anyway.
 */
export async function requestsOwnedBy(
  redis: Redis,
  queuePrefix: string,
  partition: number,
  jobs: readonly CarriedJob[],
): Promise<AllocationJobData[]> {
  const carried = jobs.flatMap((job, jobIndex) =>
    job.data.requests.map((request) => ({ jobIndex, request })),
  );
  const owned: AllocationJobData[] = jobs.map((job) => ({ ...job.data, requests: [] }));
  if (carried.length === 0) return owned;
  const stored = await redis.mget(
    ...carried.map(({ request }) => claimKey(queuePrefix, partition, request.idempotencyKey)),
  );
  const seen = new Set<string>();
  carried.forEach(({ jobIndex, request }, index) => {
    if (seen.has(request.idempotencyKey)) return;
    const claim = stored[index] === null ? null : (JSON.parse(stored[index]!) as AcceptedRequest);
    if (
      claim === null ||
      (claim.jobId === jobs[jobIndex].id &&
        claim.studentId === request.studentId &&
        claim.courseId === request.courseId)
    ) {
      seen.add(request.idempotencyKey);
      owned[jobIndex].requests.push(request);
    }
  });
  return owned;
}
