import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CourseLedger, DrawPending, type LedgerDecision } from '../courses/course-ledger.js';
import { DrawSweep, OpeningDraw } from './opening-draw.js';
import { isConnectionError, isRetryableDatabaseError, sqlStateOf } from '../database/database-errors.js';
import type { AllocationJobData, QueuedRequest } from '../queue/allocation-queue.contract.js';
import { messageOf } from '../errors/error-message.js';

/**
 * Tries of one transaction inside the worker for an error that is neither an outage nor permanent (a
 * deadlock, a lost insert race): past this the job leaves the head of its partition (it fails), so one
 * request that keeps violating a constraint cannot stall the courses behind it.
 */
const IN_PROCESS_ATTEMPTS = 4;
const FIRST_BACKOFF_MS = 100;
/** How often one decision may find a draw due and carry it out before giving up (it should take one). */
const DRAW_ROUNDS = 5;
/** A draw the database clock says is not due yet, while the request said it was: wait this long. */
const DRAW_NOT_DUE_PAUSE_MS = 100;

/**
 * The worker's way into the ledger: a batch of jobs decided in one ledger transaction (CourseLedger.decide:
 * the course rows locked, the pure rules, one write), retried here when the database hiccups, and told
 * apart from an outage, which the job waits out at the head of its queue.
 */
@Injectable()
export class AllocationService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(AllocationService.name);

  private readonly drawSweep: DrawSweep;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(CourseLedger) private readonly ledger: CourseLedger,
    @Inject(OpeningDraw) private readonly draws: OpeningDraw,
  ) {
    this.drawSweep = new DrawSweep(ledger, this);
  }

  onApplicationBootstrap(): void {
    this.drawSweep.start();
  }

  onModuleDestroy(): void {
    this.drawSweep.stop();
  }

  /**
   * Decides the requests of one or more jobs, given in arbitration order, in one transaction; retries
   * contention errors a bounded number of times with backoff. A redelivered job finds its requests already
   * decided and decides nothing again. Returns only the decisions made by this call. Throws
   * DatabaseUnavailableError when PostgreSQL cannot be reached: the job then waits at the head of its queue,
   * however long the outage lasts. `onLocked` runs each time a transaction holds the course rows' locks:
   * the drain reads the next batch from then on, so a batch is never read before the one ahead has begun.
   */
  async decide(
    jobs: readonly AllocationJobData[],
    onLocked: () => void = () => undefined,
  ): Promise<AllocationDecision[]> {
    const requests = jobs.flatMap((job) =>
      job.requests.map((request): PrioritizedRequest => ({ ...request, priority: job.priority })),
    );
    return this.decideInOrder(requests, onLocked);
  }

  /**
   * Carries out the opening draws of these courses whose period has ended (OpeningDraw): their entries are
   * decided through decideInOrder like any request. A draw that cannot go on now (Redis or PostgreSQL away)
   * is waited out like an outage: the job that needed it waits at the head of its queue.
   */
  async carryOutDraws(courseIds: readonly number[]): Promise<void> {
    for (const courseId of courseIds) {
      try {
        const done = await this.draws.complete(courseId, (chunk, course) =>
          this.decideInOrder(chunk, () => undefined, course),
        );
        if (!done) await sleep(DRAW_NOT_DUE_PAUSE_MS);
      } catch (error) {
        if (error instanceof DatabaseUnavailableError) throw error;
        throw new DrawUnavailableError(courseId, error);
      }
    }
  }

  /**
   * Decides requests given in arbitration order (in one transaction unless swaps split them), retrying
   * contention errors; `drawing` names the course whose draw these requests are entries of. A course whose
   * draw is due goes first (DrawPending): its draw is carried out, then the requests are decided.
   */
  private async decideInOrder(
    requests: readonly PrioritizedRequest[],
    onLocked: () => void,
    drawing?: number,
  ): Promise<AllocationDecision[]> {
    let drawRounds = 0;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.ledger.decide(requests, onLocked, drawing);
      } catch (error) {
        if (error instanceof DrawPending && drawRounds < DRAW_ROUNDS) {
          drawRounds += 1;
          attempt -= 1;
          await this.carryOutDraws(error.courseIds);
          continue;
        }
        // A lost connection is often one backend, not the server: try again here first.
        const outage = await this.isOutage(error);
        if (!outage && !isRetryableDatabaseError(error)) throw error;
        if (attempt >= IN_PROCESS_ATTEMPTS) throw outage ? new DatabaseUnavailableError(error) : error;
        const delay = FIRST_BACKOFF_MS * 2 ** (attempt - 1);
        this.logger.warn(
          `${describeRequests(requests)}: transient database error (${messageOf(error)}); retry in ${delay} ms`,
        );
        await sleep(delay);
      }
    }
  }

  /**
   * An error names a connection problem, or carries no SQLSTATE (the server did not answer it) and the
   * database does not answer a ping either: either way the job is not at fault.
   */
  private async isOutage(error: unknown): Promise<boolean> {
    if (isConnectionError(error)) return true;
    if (sqlStateOf(error) !== undefined) return false;
    try {
      await this.dataSource.query('SELECT 1');
      return false;
    } catch {
      return true;
    }
  }
}

/** A queued request with the priority of the job that carries it (and its draw rank, if drawn). */
interface PrioritizedRequest extends QueuedRequest {
  priority: number;
  drawRank?: number;
}

/** A decision as the worker reports it: the rules' verdict with the request's priority and acceptance time. */
export type AllocationDecision = LedgerDecision;

/** The database cannot be reached; the job is not at fault and waits at the head of its queue. */
export class DatabaseUnavailableError extends Error {
  constructor(
    override readonly cause: unknown,
    message = `database unavailable: ${messageOf(cause)}`,
  ) {
    super(message);
    this.name = 'DatabaseUnavailableError';
  }
}

/**
 * A due draw could not be carried out now (Redis or PostgreSQL trouble): the job that needs it is not at
 * fault, and waits at the head of its queue as in an outage.
 */
export class DrawUnavailableError extends DatabaseUnavailableError {
  constructor(courseId: number, cause: unknown) {
    super(cause, `the opening draw of course ${courseId} cannot be carried out now: ${messageOf(cause)}`);
    this.name = 'DrawUnavailableError';
  }
}

/** For logs: how many requests, for which courses. */
export function describeRequests(requests: readonly QueuedRequest[]): string {
  const courses = [...new Set(requests.map((request) => request.courseId))];
  const shown = courses.length > 10 ? `${courses.slice(0, 10).join(', ')}, …` : courses.join(', ');
  return `${requests.length} request(s) for course${courses.length > 1 ? 's' : ''} ${shown}`;
}
