import type { Queue } from 'bullmq';
import type { RedisClient } from '../redis/redis-client.js';
import type { AllocationJobData } from '../queue/allocation-queue.contract.js';
import { claimKey, jobsWithDuplicatesKey } from '../redis/redis-keys.js';

/**
 * The jobs waiting behind a partition's active job, read (with the claims of the requests they carry) and
 * removed in one script each, so a worker can decide the active job and its followers in one locked
 * transaction.
 *
 * Why this keeps arbitration order: a partition is pinned to global concurrency 1, so while its job is active
 * nobody else can take the jobs behind it, and BullMQ hands them out in the order of its `prioritized` sorted
 * set (score = priority × 2³² + insertion counter, popped with ZPOPMIN; see BullMQ 6.7's
 * includes/addJobWithPriority.lua and fetchNextJob.lua). A job in the `wait` list (a stalled job put back)
 * would be handed out before any of them, so while that list is not empty nothing is read ahead.
 *
 * Which requests a job owns: those whose claim names the job (a duplicate sent while its key was being
 * claimed rides in another job, whose claim it is not), or whose claim is gone (expired, or lost by Redis:
 * PostgreSQL decides a key once anyway); each key once per read. Only the jobs the API marked as carrying a
 * duplicate (and jobs stored before the API marked them) have their claims read: every other job claimed
 * all its keys itself, in the transaction that stored it.
 *
 * KEYS: the queue's wait list and prioritized set, the partition's jobs-with-duplicates set. ARGV: job key prefix, claim key prefix, the active job's
 * id and data ('' for none), the room in requests, then the ids of jobs to pass over (read already, their
 * transaction not yet committed). Returns id, data and one '1'/'0' per request (owned or not) per job.
 * Keys are built from the queue's and the claims' prefixes, which carry the partition's hash tag, so the
 * script stays in one Redis Cluster slot.
 */
const READ_SCRIPT = `
local jobPrefix, claimPrefix, headId, headData = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local room = tonumber(ARGV[5])
local skip = {}
for i = 6, #ARGV do skip[ARGV[i]] = true end
local found, seen = {}, {}
local function take(id, data, job)
  local owned = {}
  local checkClaims = job.duplicatesMarked ~= true or redis.call('SISMEMBER', KEYS[3], id) == 1
  for i, request in ipairs(job.requests) do
    local key = request.idempotencyKey
    local mine = false
    if not seen[key] then
      local stored = checkClaims and redis.call('GET', claimPrefix .. key)
      if not stored then
        mine = true
      else
        local claim = cjson.decode(stored)
        mine = claim.jobId == id and claim.studentId == request.studentId and claim.courseId == request.courseId
      end
    end
    if mine then seen[key] = true end
    owned[i] = mine and '1' or '0'
  end
  found[#found + 1] = id
  found[#found + 1] = data
  found[#found + 1] = table.concat(owned)
  room = room - #job.requests
end
if headId ~= '' then take(headId, headData, cjson.decode(headData)) end
if room <= 0 or redis.call('LLEN', KEYS[1]) > 0 then return found end
local skipped = #ARGV - 5
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, skipped + room - 1)) do
  if not skip[id] then
    local data = redis.call('HGET', jobPrefix .. id, 'data')
    if not data then break end
    local job = cjson.decode(data)
    if #job.requests > room then break end
    take(id, data, job)
    if room <= 0 then break end
  end
end
return found
`;

/**
 * Forgets decided jobs: each leaves the jobs-with-duplicates set, and a follower that still waits is removed
 * with its hash; a job no longer in the sorted set (the active job, one taken by a worker after a lost lock,
 * or one removed already) keeps its hash, so an active job's is never deleted under its worker.
 */
const REMOVE_SCRIPT = `
local removed = 0
for i = 2, #ARGV do
  redis.call('SREM', KEYS[2], ARGV[i])
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    local key = ARGV[1] .. ARGV[i]
    redis.call('DEL', key, key .. ':logs')
    removed = removed + 1
  end
end
return removed
`;

/** A queue job with only the requests it owns (see READ_SCRIPT). */
export interface OwnedJob {
  id: string;
  data: AllocationJobData;
}

type ScriptClient = RedisClient & {
  readPartitionJobs(...keysAndArgs: Array<string | number>): Promise<string[]>;
  removeWaitingJobs(...keysAndArgs: string[]): Promise<number>;
};

function scripts(redis: RedisClient): ScriptClient {
  if (!('readPartitionJobs' in redis)) {
    redis.defineCommand('readPartitionJobs', { numberOfKeys: 3, lua: READ_SCRIPT });
    redis.defineCommand('removeWaitingJobs', { numberOfKeys: 2, lua: REMOVE_SCRIPT });
  }
  return redis as ScriptClient;
}

export interface ReadOptions {
  /** The partition's active job, read first and whatever its size; omitted when reading on behind it. */
  head?: { id: string; data: AllocationJobData };
  /** Jobs read already whose transaction has not committed yet: passed over. */
  skip?: readonly string[];
  /** Most requests to read, head included: a contiguous run of jobs, ended by the first that does not fit. */
  room: number;
}

/**
 * The active job (if given), then the jobs waiting behind it in the order BullMQ would hand them out, each
 * with only the requests it owns.
 */
export async function readPartitionJobs(
  redis: RedisClient,
  queue: Queue,
  queuePrefix: string,
  partition: number,
  { head, skip = [], room }: ReadOptions,
): Promise<OwnedJob[]> {
  const reply = await scripts(redis).readPartitionJobs(
    queue.keys.wait,
    queue.keys.prioritized,
    jobsWithDuplicatesKey(queuePrefix, partition),
    queue.toKey(''),
    claimKey(queuePrefix, partition, ''),
    head?.id ?? '',
    head ? JSON.stringify(head.data) : '',
    room,
    ...skip,
  );
  const jobs: OwnedJob[] = [];
  for (let index = 0; index < reply.length; index += 3) {
    const data = JSON.parse(reply[index + 1]) as AllocationJobData;
    const owned = reply[index + 2];
    jobs.push({
      id: reply[index],
      data: { ...data, requests: data.requests.filter((_, request) => owned[request] === '1') },
    });
  }
  return jobs;
}

/** Forgets decided jobs (see REMOVE_SCRIPT); returns how many were still waiting. */
export function removeWaitingJobs(
  redis: RedisClient,
  queue: Queue,
  queuePrefix: string,
  partition: number,
  ids: readonly string[],
): Promise<number> {
  if (ids.length === 0) return Promise.resolve(0);
  return scripts(redis).removeWaitingJobs(
    queue.keys.prioritized,
    jobsWithDuplicatesKey(queuePrefix, partition),
    queue.toKey(''),
    ...ids,
  );
}
