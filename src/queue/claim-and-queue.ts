import { Inject, Injectable } from '@nestjs/common';
import type { ChainableCommander } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { masterOf, REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import {
  acceptedCountsKey,
  claimKey,
  drawClosedKey,
  drawEntriesKey,
  jobsWithDuplicatesKey,
  studentKeysKey,
} from '../redis/redis-keys.js';
import { type AcceptedRequest, batchJobIdFor, type DrawnEntry } from './allocation-queue.contract.js';
import { AllocationQueues } from './allocation-queues.js';

/**
 * Claims keys atomically and counts the claims per course. Plain GET then SET inside the script (rather
 * than SET NX GET) keeps it working on Redis 6.2. Every key it touches carries the partition's hash tag.
 * A job carrying a request whose key was held already (a duplicate, which rides along but is not the job's
 * to decide) is added to the partition's jobs-with-duplicates set: the worker checks the claims of those
 * jobs only. Each new claim's key is also added to its student's set in the partition, so a student's
 * queued requests can be listed. It runs after the command storing the batch's job in one MULTI, and
 * claims nothing unless that job exists: a MULTI runs every command even when one fails (a script a
 * Cluster node lost with a failover answers NOSCRIPT), so this check is what keeps a claim from ever
 * existing without its job. KEYS: accepted-counts hash, jobs-with-duplicates set, the job's hash, then
 * per request its claim and its student's set. ARGV: ttl, the job's id, then per request its record,
 * course and key.
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[3]) == 0 then return redis.error_reply('NOJOB the batch job was not stored') end
local claimants = {}
local claimedPerCourse = {}
for r = 1, (#KEYS - 3) / 2 do
  local claim, studentKeys = KEYS[2 * r + 2], KEYS[2 * r + 3]
  local previous = redis.call('GET', claim)
  if previous then
    claimants[r] = previous
    redis.call('SADD', KEYS[2], ARGV[2])
  else
    local course = ARGV[3 * r + 1]
    redis.call('SET', claim, ARGV[3 * r], 'EX', ARGV[1])
    redis.call('SADD', studentKeys, ARGV[3 * r + 2])
    redis.call('EXPIRE', studentKeys, ARGV[1])
    claimants[r] = ''
    claimedPerCourse[course] = (claimedPerCourse[course] or 0) + 1
  end
end
for course, claimed in pairs(claimedPerCourse) do redis.call('HINCRBY', KEYS[1], course, claimed) end
return claimants
`;

const CLAIM_COMMAND = 'claimRequests';

/**
 * Claims draw entries (contract v3, Fair opening) and appends each new one to its course's entries, in one
 * script: a claimed key is always an entry, and nothing joins once the draw has taken its entries (the
 * closed marker, set by DRAW_TAKE_SCRIPT): then it answers DRAWCLOSED and claims nothing. KEYS: closed
 * marker, entries list, accepted-counts hash, then per request its claim and its student's set. ARGV: ttl,
 * course, then per request its record, key and entry.
 */
const DRAW_CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('DRAWCLOSED the draw has taken its entries') end
local claimants = {}
local claimed = 0
for r = 1, (#KEYS - 3) / 2 do
  local claim, studentKeys = KEYS[2 * r + 2], KEYS[2 * r + 3]
  local previous = redis.call('GET', claim)
  if previous then
    claimants[r] = previous
  else
    redis.call('SET', claim, ARGV[3 * r], 'EX', ARGV[1])
    redis.call('SADD', studentKeys, ARGV[3 * r + 1])
    redis.call('EXPIRE', studentKeys, ARGV[1])
    redis.call('RPUSH', KEYS[2], ARGV[3 * r + 2])
    claimants[r] = ''
    claimed = claimed + 1
  end
end
if claimed > 0 then redis.call('HINCRBY', KEYS[3], ARGV[2], claimed) end
return claimants
`;

/** Closes a course's draw to new entries and answers its entries in acceptance order. KEYS: marker, list. */
const DRAW_TAKE_SCRIPT = `
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return redis.call('LRANGE', KEYS[2], 0, -1)
`;

/** The claim of a draw entry names this instead of a job: no job carries it, the draw decides it. */
export const drawJobIdFor = (courseId: number): string => `draw-${courseId}`;

/** The draw has taken its entries: the request is queued as a plain one instead. */
export class DrawClosed extends Error {
  constructor() {
    super('the draw has taken its entries');
    this.name = 'DrawClosed';
  }
}

/** A request on its way into a job: its idempotency key and what is recorded for it. */
export interface Claim {
  key: string;
  request: AcceptedRequest;
}

/**
 * The one owner of the claim-and-queue transaction: one partition's batch of fresh requests is claimed and
 * its job stored in one Redis MULTI, so there is never a claim without its job, and a failure writes
 * nothing. A request whose key turned out to be held already travels in the job too, but its claim names
 * another job, so the worker skips it.
 */
@Injectable()
export class ClaimAndQueue {
  private readonly prefix: string;
  private readonly ttlSeconds: number;
  private readonly redisConfig: AppConfig['redis'];

  constructor(
    @Inject(AllocationQueues) private readonly queues: AllocationQueues,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.prefix = config.queuePrefix;
    this.ttlSeconds = config.idempotencyTtlSeconds;
    this.redisConfig = config.redis;
  }

  /**
   * Claims the batch's keys and stores its job (requests of one priority, one partition, in acceptance
   * order). For each claim: null if claimed now, or the request that held the key already.
   */
  async commit(partition: number, batch: Claim[]): Promise<Array<AcceptedRequest | null>> {
    const queue = this.queues.queue(partition);
    await this.queues.pin(queue);
    const jobId = batchJobIdFor(batch.map(({ key }) => key));
    const data = this.queues.jobData(
      batch[0].request.priority,
      batch.map(({ key, request }) => ({
        idempotencyKey: key,
        studentId: request.studentId,
        courseId: request.courseId,
        requestedAt: request.requestedAt,
        ...(request.swapFor === undefined ? {} : { swapFor: request.swapFor }),
      })),
    );
    const transaction = await this.transaction(queue.backend.client);
    const added = this.queues.job(partition, data, jobId).addJob(transaction as never);
    added.catch(() => undefined); // its failure surfaces through exec() below
    // After the job: the claim script claims nothing unless the job is there (see CLAIM_SCRIPT).
    this.claimIn(
      transaction,
      partition,
      { id: jobId, key: queue.toKey(jobId) },
      batch.map(({ key, request }) => ({ key, request: { ...request, jobId } })),
    );
    const results = await transaction.exec();
    if (!results) throw new Error('the Redis transaction was discarded');
    const anyKey = claimKey(this.prefix, partition, batch[0].key);
    const failed = results.find(([error]) => error)?.[0];
    if (failed) {
      if (results.some(([error]) => error && /NOSCRIPT/.test(error.message))) {
        await this.reloadScripts(anyKey).catch(() => undefined);
      }
      throw failed;
    }
    await added;
    await this.replicated(anyKey);
    return (results[results.length - 1][1] as string[]).map((claimant) =>
      claimant === '' ? null : (JSON.parse(claimant) as AcceptedRequest),
    );
  }

  /**
   * Claims a batch of draw entries of one course and enters them, in acceptance order. For each claim: null
   * if claimed now, or the request that held the key already. Throws DrawClosed once the draw has taken
   * its entries (nothing claimed then).
   */
  async commitDrawEntries(partition: number, batch: Claim[]): Promise<Array<AcceptedRequest | null>> {
    const courseId = batch[0].request.courseId;
    const jobId = drawJobIdFor(courseId);
    const anyKey = claimKey(this.prefix, partition, batch[0].key);
    let claimants: string[];
    try {
      claimants = (await this.redis.eval(
        DRAW_CLAIM_SCRIPT,
        2 * batch.length + 3,
        drawClosedKey(this.prefix, partition, courseId),
        drawEntriesKey(this.prefix, partition, courseId),
        acceptedCountsKey(this.prefix, partition),
        ...batch.flatMap(({ key, request }) => [
          claimKey(this.prefix, partition, key),
          studentKeysKey(this.prefix, partition, request.studentId),
        ]),
        this.ttlSeconds,
        courseId,
        ...batch.flatMap(({ key, request }) => [
          JSON.stringify({ ...request, jobId }),
          key,
          JSON.stringify({
            idempotencyKey: key,
            studentId: request.studentId,
            priority: request.priority,
            requestedAt: request.requestedAt,
            ...(request.swapFor === undefined ? {} : { swapFor: request.swapFor }),
          }),
        ]),
      )) as string[];
    } catch (error) {
      if (/DRAWCLOSED/.test((error as Error).message ?? '')) throw new DrawClosed();
      throw error;
    }
    await this.replicated(anyKey);
    return claimants.map((claimant) => (claimant === '' ? null : (JSON.parse(claimant) as AcceptedRequest)));
  }

  /**
   * Closes the course's draw to new entries and reads them, in acceptance order. Run again (a crash before
   * the draw was stored), it reads the same entries: nothing can join once closed.
   */
  async takeDrawEntries(partition: number, courseId: number): Promise<DrawnEntry[]> {
    const entries = (await this.redis.eval(
      DRAW_TAKE_SCRIPT,
      2,
      drawClosedKey(this.prefix, partition, courseId),
      drawEntriesKey(this.prefix, partition, courseId),
      this.ttlSeconds,
    )) as string[];
    return entries.map((entry) => JSON.parse(entry) as DrawnEntry);
  }

  /** Once the draw is stored in PostgreSQL, its entries leave Redis (the closed marker stays, with its TTL). */
  async forgetDrawEntries(partition: number, courseId: number): Promise<void> {
    await this.redis.del(drawEntriesKey(this.prefix, partition, courseId));
  }

  /** A MULTI on the queue's client (the shared one) in which the claim script may run. */
  private async transaction(client: unknown): Promise<ChainableCommander> {
    const redis = (await client) as RedisClient;
    if (!(CLAIM_COMMAND in redis)) redis.defineCommand(CLAIM_COMMAND, { lua: CLAIM_SCRIPT });
    return redis.multi();
  }

  /** Adds the claims of one partition's batch, carried by job `job` (its id and the key of its hash). */
  private claimIn(
    transaction: ChainableCommander,
    partition: number,
    job: { id: string; key: string },
    claims: Claim[],
  ): void {
    (transaction as unknown as Record<string, (...args: Array<string | number>) => unknown>)[CLAIM_COMMAND](
      2 * claims.length + 3,
      acceptedCountsKey(this.prefix, partition),
      jobsWithDuplicatesKey(this.prefix, partition),
      job.key,
      ...claims.flatMap(({ key, request }) => [
        claimKey(this.prefix, partition, key),
        studentKeysKey(this.prefix, partition, request.studentId),
      ]),
      this.ttlSeconds,
      job.id,
      ...claims.flatMap(({ key, request }) => [JSON.stringify(request), request.courseId, key]),
    );
  }

  /**
   * A Cluster node promoted from replica lacks the scripts the old master had, while the client's connection
   * to it still counts them as sent, so every transaction would fail with NOSCRIPT (outside a transaction
   * ioredis sends the script again itself). Load the missing ones on that master; the client's retry
   * succeeds.
   */
  private async reloadScripts(anyKeyOfThePartition: string): Promise<void> {
    const master = masterOf(this.redis, anyKeyOfThePartition);
    const scripts = Object.values(
      (this.redis as unknown as { scriptsSet: Record<string, { lua: string; sha: string }> }).scriptsSet,
    );
    const present = (await master.script('EXISTS', ...scripts.map(({ sha }) => sha))) as number[];
    await Promise.all(
      scripts.filter((_, index) => present[index] === 0).map(({ lua }) => master.script('LOAD', lua)),
    );
  }

  /**
   * With REDIS_WAIT_REPLICAS, a batch is answered only once that many replicas of its partition's master
   * hold its claims and job (WAIT counts the replicas that have every write this connection sent so far;
   * the queue's client is this shared one).
   * Redis replicates asynchronously: without it, a master that dies before replicating takes requests it
   * acknowledged with it. Short of replicas in time, the batch is answered 503: its requests are stored,
   * so the client's retry with the same key learns their state (200), or is accepted anew (202) if the
   * master was lost.
   */
  private async replicated(anyKeyOfThePartition: string): Promise<void> {
    const { waitReplicas, waitTimeoutMs } = this.redisConfig;
    if (waitReplicas === 0) return;
    // Sent as soon as EXEC answers, to the master the client knows for the slot, which is where the MULTI
    // went unless a failover completed in between. A master that turned replica meanwhile refuses WAIT:
    // not confirmed either.
    const acknowledged = await Promise.resolve()
      .then(() => masterOf(this.redis, anyKeyOfThePartition).wait(waitReplicas, waitTimeoutMs))
      .catch(() => 0);
    if (acknowledged < waitReplicas) {
      throw new DomainError(
        DomainErrorCode.QueueUnavailable,
        `the request is stored, but ${acknowledged} of ${waitReplicas} Redis replicas confirmed it in time; ` +
          'send it again with the same idempotency key',
      );
    }
  }
}
