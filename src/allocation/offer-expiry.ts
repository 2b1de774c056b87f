import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { CourseLedger } from '../courses/course-ledger.js';
import { messageOf } from '../errors/error-message.js';
import { EnrollmentMetrics } from '../metrics/enrollment-metrics.service.js';

/** How often every worker process looks for offers past their deadline (the contract allows 5 s late). */
const SWEEP_EVERY_MS = 1000;
/** Courses a sweep takes on at most (earliest deadline first); the next sweep takes the rest. */
const COURSES_PER_SWEEP = 50;

/**
 * Offer expiry (contract v3, Offers) as a sweep driven by the database, run by every worker process: no
 * scheduler of its own and no single point of failure. Each course's expiry runs in the ledger under the
 * course lock and is idempotent, so processes racing on one course expire each offer once; a process
 * killed mid-expiry rolled back, and the next sweep anywhere takes it up; while PostgreSQL is down nothing
 * expires, and the first sweep after it returns catches up (the deadline still decides an accept meanwhile).
 */
@Injectable()
export class OfferExpiry implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(OfferExpiry.name);
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(
    @Inject(CourseLedger) private readonly ledger: CourseLedger,
    @Inject(EnrollmentMetrics) private readonly metrics: EnrollmentMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** One pass: every course with an offer past its deadline, earliest first. Resolves with offers expired. */
  async sweep(): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    let expired = 0;
    try {
      for (const courseId of await this.ledger.coursesWithExpiredOffers(COURSES_PER_SWEEP)) {
        const lags = await this.ledger.expireOffers(courseId);
        for (const lag of lags) this.metrics.offerExpired(lag);
        expired += lags.length;
        if (lags.length > 0)
          this.logger.log({ msg: 'offers expired', course_id: courseId, count: lags.length });
      }
    } catch (error) {
      this.logger.warn(`offer expiry sweep: ${messageOf(error)}; the next sweep tries again`);
    } finally {
      this.sweeping = false;
    }
    return expired;
  }
}
