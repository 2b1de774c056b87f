import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AllocationJobData } from '../queue/allocation-queue.contract.js';

/**
 * The jobs waiting behind a partition's active job, read and removed in one script each, so the worker can
 * decide the active job and its followers in one locked transaction.
 *
 * Why this keeps arbitration order: a partition is pinned to global concurrency 1, so while its job is active
 * nobody else can take the jobs behind it, and BullMQ hands them out in the order of its `prioritized` sorted
 * set (score = priority × 2³² + insertion counter, popped with ZPOPMIN; see BullMQ 6.7's
 * includes/addJobWithPriority.lua and fetchNextJob.lua). A job in the `wait` list (a stalled job put back)
 * would be handed out before any of them, so while that list is not empty nothing is read ahead.
 *
 * Both scripts build job keys from the queue's key prefix; every key of a partition queue carries the
 * partition's hash tag, so they stay in one Redis Cluster slot.
 */
const PEEK_SCRIPT = `
if redis.call('LLEN', KEYS[1]) > 0 then return {} end
local ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
local found = {}
local bytes = 0
for _, id in ipairs(ids) do
  local data = redis.call('HGET', ARGV[1] .. id, 'data')
  if not data then break end
  found[#found + 1] = id
  found[#found + 1] = data
  bytes = bytes + #data
  if bytes >= tonumber(ARGV[3]) then break end
end
return found
`;

/**
 * Removes decided followers that still wait; a job no longer in the sorted set (taken by a worker after a
 * lost lock, or removed already) is left alone, so an active job's hash is never deleted under its worker.
 */
const REMOVE_SCRIPT = `
local removed = 0
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    local key = ARGV[1] .. ARGV[i]
    redis.call('DEL', key, key .. ':logs')
    removed = removed + 1
  end
end
return removed
`;

/** Bytes read ahead per request the batch may still take: a request's JSON is about 130 bytes. */
const BYTES_PER_REQUEST = 256;

export interface WaitingJob {
  id: string;
  data: AllocationJobData;
}

type ScriptClient = Redis & {
  peekWaitingJobs(
    wait: string,
    prioritized: string,
    jobKeyPrefix: string,
    max: number,
    bytes: number,
  ): Promise<string[]>;
  removeWaitingJobs(prioritized: string, jobKeyPrefix: string, ...ids: string[]): Promise<number>;
};

function scripts(redis: Redis): ScriptClient {
  if (!('peekWaitingJobs' in redis)) {
    redis.defineCommand('peekWaitingJobs', { numberOfKeys: 2, lua: PEEK_SCRIPT });
    redis.defineCommand('removeWaitingJobs', { numberOfKeys: 1, lua: REMOVE_SCRIPT });
  }
  return redis as ScriptClient;
}

/**
 * The jobs that follow the active one, in the order BullMQ would hand them out, as many as fit in
 * `requestRoom` requests (a contiguous run: the first job that does not fit ends it).
 */
export async function peekWaitingJobs(
  redis: Redis,
  queue: Queue,
  requestRoom: number,
): Promise<WaitingJob[]> {
  if (requestRoom <= 0) return [];
  const reply = await scripts(redis).peekWaitingJobs(
    queue.keys.wait,
    queue.keys.prioritized,
    queue.toKey(''),
    requestRoom,
    requestRoom * BYTES_PER_REQUEST,
  );
  const jobs: WaitingJob[] = [];
  let room = requestRoom;
  for (let index = 0; index < reply.length; index += 2) {
    const data = JSON.parse(reply[index + 1]) as AllocationJobData;
    if (data.requests.length > room) break;
    room -= data.requests.length;
    jobs.push({ id: reply[index], data });
  }
  return jobs;
}

/** Removes decided followers; returns how many were still waiting. */
export function removeWaitingJobs(redis: Redis, queue: Queue, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return Promise.resolve(0);
  return scripts(redis).removeWaitingJobs(queue.keys.prioritized, queue.toKey(''), ...ids);
}
