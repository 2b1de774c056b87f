import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { Course } from './course.entity.js';
import { CourseDraw } from './course-draw.entity.js';
import { DrawResponse } from './dto/draw.response.js';
import { type CourseChanges, CourseLedger } from './course-ledger.js';
import { dateOrNull } from './course-window.js';
import { type DrawPeriod, drawPeriodOf } from './opening-draw.rules.js';
import type { CreateCourseDto } from './dto/create-course.dto.js';

interface RegistrationWindow {
  opensAt: Date | null;
  closesAt: Date | null;
  /** The opening draw's period, if the course has one: requests accepted in it are draw entries. */
  draw: DrawPeriod | null;
}

/** How the accept path takes a request: a draw entry (contract v3, Fair opening) or a plain request. */
export type Admission = 'plain' | 'draw_entry';

interface CachedWindow extends RegistrationWindow {
  expires: number;
}

/**
 * The course routes' service and the accept path's window check: reads of courses (the window cached for a
 * short while), and edits handed to the ledger, which owns every write to a course row.
 */
@Injectable()
export class CoursesService {
  /**
   * courseId -> its registration window and the entry's expiry (ms). Courses are never deleted, so a short
   * cache is safe on the accept path; a window changed elsewhere applies here within the TTL.
   */
  private readonly knownCourses = new Map<number, CachedWindow>();
  /** Window queries in flight, by course id. */
  private readonly lookups = new Map<number, Promise<RegistrationWindow | null>>();
  private readonly cacheTtlMs: number;

  constructor(
    @InjectRepository(Course) private readonly courses: Repository<Course>,
    @InjectRepository(CourseDraw) private readonly draws: Repository<CourseDraw>,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(CourseLedger) private readonly ledger: CourseLedger,
  ) {
    this.cacheTtlMs = config.courseCacheTtlMs;
  }

  list(): Promise<Course[]> {
    return this.courses.find({ order: { code: 'ASC' } });
  }

  async get(id: number): Promise<Course> {
    const course = await this.courses.findOneBy({ id });
    if (!course) throw new DomainError(DomainErrorCode.CourseNotFound, `course_id ${id} does not exist`);
    return course;
  }

  /** A course's opening draw as anyone may read it (404 for an unknown course). */
  async draw(id: number): Promise<DrawResponse> {
    const [course, draw] = await Promise.all([this.get(id), this.draws.findOneBy({ courseId: id })]);
    return DrawResponse.from(course, draw, new Date());
  }

  /** Creates a course through the ledger, the one writer of course rows. */
  create(dto: CreateCourseDto): Promise<Course> {
    return this.ledger.create({
      code: dto.code,
      title: dto.title,
      capacity: dto.capacity,
      opensAt: dateOrNull(dto.opens_at),
      closesAt: dateOrNull(dto.closes_at),
      credits: dto.credits ?? 0,
      meetings: dto.meetings ?? [],
      waitlistMode: dto.waitlist_mode ?? 'auto',
      offerTtlS: dto.offer_ttl_s ?? 86400,
      drawWindowS: dto.draw_window_s ?? 0,
      prequeueS: dto.prequeue_s ?? 0,
    });
  }

  /**
   * Changes a course through the ledger (a capacity raise promotes in the same transaction), then forgets
   * what this process remembered of its window.
   */
  async change(id: number, changes: CourseChanges): Promise<Course> {
    const changed = await this.ledger.changeCourse(id, changes);
    this.knownCourses.delete(id);
    return changed;
  }

  /**
   * Throws CourseNotFound unless the course exists, and RegistrationNotOpen / RegistrationClosed when `at`
   * lies outside its registration window (which opens prequeue_s early for a course with a draw); says
   * whether the request is a draw entry. Answers from memory when the course was seen recently.
   * Concurrent misses for one course share one query, so a stampede on a course this process has not seen
   * yet costs one database round trip, not one per request.
   */
  async assertOpen(id: number, at: Date): Promise<Admission> {
    const window = await this.windowOf(id);
    const opensAt = window.draw?.startsAt ?? window.opensAt;
    if (opensAt && at < opensAt) {
      throw new DomainError(
        DomainErrorCode.RegistrationNotOpen,
        `registration for course_id ${id} opens at ${opensAt.toISOString()}`,
      );
    }
    if (window.closesAt && at >= window.closesAt) {
      throw new DomainError(
        DomainErrorCode.RegistrationClosed,
        `registration for course_id ${id} closed at ${window.closesAt.toISOString()}`,
      );
    }
    return window.draw && at < window.draw.endsAt ? 'draw_entry' : 'plain';
  }

  private async windowOf(id: number): Promise<RegistrationWindow> {
    const cached = this.knownCourses.get(id);
    if (cached && cached.expires > Date.now()) return cached;
    let lookup = this.lookups.get(id);
    if (!lookup) {
      lookup = this.courses
        .findOne({
          where: { id },
          select: { id: true, opensAt: true, closesAt: true, drawWindowS: true, prequeueS: true },
        })
        .then(
          (course) =>
            course && { opensAt: course.opensAt, closesAt: course.closesAt, draw: drawPeriodOf(course) },
        )
        .finally(() => this.lookups.delete(id));
      this.lookups.set(id, lookup);
    }
    const window = await lookup;
    if (!window) throw new DomainError(DomainErrorCode.CourseNotFound, `course_id ${id} does not exist`);
    this.knownCourses.set(id, { ...window, expires: Date.now() + this.cacheTtlMs });
    return window;
  }

  /** Every course's counters in one indexed read, for the metrics gauges. */
  countersForMetrics(): Promise<
    Array<Pick<Course, 'id' | 'code' | 'capacity' | 'seatsTaken' | 'requestsDecided'>>
  > {
    return this.courses.find({
      select: { id: true, code: true, capacity: true, seatsTaken: true, requestsDecided: true },
    });
  }
}
