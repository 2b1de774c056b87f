import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { CourseLedger, type LedgerRequest } from '../courses/course-ledger.js';
import { messageOf } from '../errors/error-message.js';
import { AllocationQueues } from '../queue/allocation-queues.js';
import { ClaimAndQueue } from '../queue/claim-and-queue.js';

/** Decides a chunk of a draw's entries, in the order given, for the course whose draw it carries out. */
export type DecideDrawn = (requests: LedgerRequest[], courseId: number) => Promise<unknown>;

/**
 * Carries out a course's opening draw (contract v3, Fair opening) once its period has ended:
 * 1. the entries are taken from Redis, closing the draw to new ones (a rerun reads the same entries);
 * 2. the ledger puts them in draw order with the course's seed and stores that order with the `drawn` event,
 *    once (a second caller gets the stored order: one order whatever crashes or races);
 * 3. the entries are decided in that order, in batches of DECISION_BATCH_MAX, each with its draw_rank
 *    (entries decided already are skipped, so a rerun goes on where the last one stopped);
 * 4. the draw is marked carried out, and the course's later requests are decided as usual.
 * No worker decides an entry before the period ends: step 2 checks the database's clock under the lock.
 * Two callers in one process share one run; callers in several processes take turns on the course lock.
 */
@Injectable()
export class OpeningDraw {
  private readonly logger = new Logger(OpeningDraw.name);
  private readonly running = new Map<number, Promise<boolean>>();

  constructor(
    @Inject(CourseLedger) private readonly ledger: CourseLedger,
    @Inject(ClaimAndQueue) private readonly claims: ClaimAndQueue,
    @Inject(AllocationQueues) private readonly queues: AllocationQueues,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Resolves true once the course has no draw left to carry out, false while its period runs. */
  complete(courseId: number, decide: DecideDrawn): Promise<boolean> {
    let run = this.running.get(courseId);
    if (!run) {
      run = this.carryOut(courseId, decide).finally(() => this.running.delete(courseId));
      this.running.set(courseId, run);
    }
    return run;
  }

  private async carryOut(courseId: number, decide: DecideDrawn): Promise<boolean> {
    const state = await this.ledger.drawState(courseId);
    if (!state.pending) return true;
    if (!state.due) return false;
    const started = Date.now();
    let order = state.order;
    const partition = this.queues.partitionOf(courseId);
    if (!order) {
      const accepted = await this.claims.takeDrawEntries(partition, courseId);
      order = await this.ledger.recordDraw(courseId, accepted);
      if (!order) return !(await this.ledger.drawState(courseId)).pending;
      this.logger.log({ msg: 'draw made', course_id: courseId, entries: order.length });
    }
    await this.claims.forgetDrawEntries(partition, courseId).catch(() => undefined);
    const batch = this.config.decisionBatchMax;
    for (let start = 0; start < order.length; start += batch) {
      await decide(
        order.slice(start, start + batch).map((entry, index) => ({
          ...entry,
          courseId,
          drawRank: start + index + 1,
        })),
        courseId,
      );
    }
    await this.ledger.finishDraw(courseId);
    this.logger.log({
      msg: 'draw carried out',
      course_id: courseId,
      entries: order.length,
      duration_ms: Date.now() - started,
    });
    return true;
  }
}

/** How often every worker process looks for draws whose period has ended. */
const SWEEP_EVERY_MS = 1000;
const COURSES_PER_SWEEP = 20;

/** What the sweep needs of the worker: the draws carried out, their entries decided as any request. */
export interface DrawCarrier {
  carryOutDraws(courseIds: readonly number[]): Promise<void>;
}

/**
 * Starts the draws whose period has ended, from every worker process (like the offer expiry: no scheduler
 * of its own, no single point of failure); a course's later request reaching a worker first starts it too
 * (DrawPending). A process killed mid-draw leaves it pending, and the next sweep anywhere takes it up.
 */
export class DrawSweep {
  private readonly logger = new Logger(DrawSweep.name);
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(
    private readonly ledger: CourseLedger,
    private readonly carrier: DrawCarrier,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.carrier.carryOutDraws(await this.ledger.coursesWithDueDraws(COURSES_PER_SWEEP));
    } catch (error) {
      this.logger.warn(`draw sweep: ${messageOf(error)}; the next sweep tries again`);
    } finally {
      this.sweeping = false;
    }
  }
}
