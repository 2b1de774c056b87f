import { Inject, Injectable, Logger } from '@nestjs/common';
import { REDIS_CLIENT, type RedisClient } from '../redis/redis-client.js';
import { type Gauge, register } from 'prom-client';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { CoursesService } from '../courses/courses.service.js';
import { acceptedCountsKey } from '../redis/redis-keys.js';
import { messageOf } from '../errors/error-message.js';

export const QUEUE_DEPTH = 'courseflow_queue_depth';
export const SEATS_TAKEN = 'courseflow_seats_taken';
export const CAPACITY = 'courseflow_capacity';

const REFRESH_SHARED_FOR_MS = 1000;

/**
 * The per-course gauges, read from the shared stores at scrape time: one read of the courses table and one
 * HGETALL per partition of the accepted-request counts. Every process reports the same fleet-wide values, so aggregate
 * them with max(), not sum().
 */
@Injectable()
export class CourseGauges {
  private readonly logger = new Logger(CourseGauges.name);
  /** One accepted-counts hash per partition. */
  private readonly acceptedCounts: string[];
  private refreshing?: Promise<void>;
  private refreshedAt = 0;

  constructor(
    @Inject(CoursesService) private readonly courses: CoursesService,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.acceptedCounts = Array.from({ length: config.allocationPartitions }, (_, partition) =>
      acceptedCountsKey(config.queuePrefix, partition),
    );
  }

  /**
   * Refreshes the three gauges. A scrape collects each gauge in turn; the reads they trigger within a
   * second of each other share one refresh.
   */
  refresh(): Promise<void> {
    if (!this.refreshing || Date.now() - this.refreshedAt > REFRESH_SHARED_FOR_MS) {
      this.refreshedAt = Date.now();
      this.refreshing = this.read();
    }
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const gauge = (name: string) => register.getSingleMetric(name) as Gauge<'course'>;
    const [depth, seats, capacity] = [gauge(QUEUE_DEPTH), gauge(SEATS_TAKEN), gauge(CAPACITY)];
    try {
      const [courses, accepted] = await Promise.all([
        this.courses.countersForMetrics(),
        Promise.all(this.acceptedCounts.map((key) => this.redis.hgetall(key))),
      ]);
      // A course lives in one partition, so its count is in exactly one hash.
      const acceptedPerCourse = Object.assign({}, ...accepted) as Record<string, string>;
      for (const each of [depth, seats, capacity]) each.reset();
      for (const course of courses) {
        const labels = { course: course.code };
        const waiting = Number(acceptedPerCourse[String(course.id)] ?? 0) - course.requestsDecided;
        depth.set(labels, Math.max(0, waiting));
        seats.set(labels, course.seatsTaken);
        capacity.set(labels, course.capacity);
      }
    } catch (error) {
      // A scrape during an outage still returns the process metrics; /ready reports the outage.
      this.logger.warn(`course gauges unavailable: ${messageOf(error)}`);
    }
  }
}
