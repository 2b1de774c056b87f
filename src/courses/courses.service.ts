import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type EntityManager, In, QueryFailedError, type Repository } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { Course } from './course.entity.js';
import type { CreateCourseDto } from './dto/create-course.dto.js';

const UNIQUE_VIOLATION = '23505';

interface RegistrationWindow {
  opensAt: Date | null;
  closesAt: Date | null;
}

interface CachedWindow extends RegistrationWindow {
  expires: number;
}

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
    @Inject(APP_CONFIG) config: AppConfig,
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

  async create(dto: CreateCourseDto): Promise<Course> {
    const opensAt = dateOrNull(dto.opens_at);
    const closesAt = dateOrNull(dto.closes_at);
    assertWindowOrder(opensAt, closesAt);
    try {
      return await this.courses.save(
        this.courses.create({
          code: dto.code,
          title: dto.title,
          capacity: dto.capacity,
          opensAt,
          closesAt,
        }),
      );
    } catch (error) {
      if (
        error instanceof QueryFailedError &&
        (error.driverError as { code?: string }).code === UNIQUE_VIOLATION
      ) {
        throw new DomainError(DomainErrorCode.CourseCodeTaken, await this.codeTakenMessage(dto.code));
      }
      throw error;
    }
  }

  /** Codes are unique whatever their case (a unique index on lower(code)): say which one holds it. */
  private async codeTakenMessage(code: string): Promise<string> {
    const holder = await this.courses
      .createQueryBuilder('course')
      .select('course.code')
      .where('lower(course.code) = lower(:code)', { code })
      .getOne()
      .catch(() => null);
    return holder && holder.code !== code
      ? `code ${code} already exists as ${holder.code} (codes are unique whatever their case)`
      : `code ${code} already exists`;
  }

  /**
   * Throws CourseNotFound unless the course exists, and RegistrationNotOpen / RegistrationClosed when `at`
   * lies outside its registration window; answers from memory when the course was seen recently. Concurrent
   * misses for one course share one query, so a stampede on a course this process has not seen yet costs
   * one database round trip, not one per request.
   */
  async assertOpen(id: number, at: Date): Promise<void> {
    const window = await this.windowOf(id);
    if (window.opensAt && at < window.opensAt) {
      throw new DomainError(
        DomainErrorCode.RegistrationNotOpen,
        `registration for course_id ${id} opens at ${window.opensAt.toISOString()}`,
      );
    }
    if (window.closesAt && at >= window.closesAt) {
      throw new DomainError(
        DomainErrorCode.RegistrationClosed,
        `registration for course_id ${id} closed at ${window.closesAt.toISOString()}`,
      );
    }
  }

  /** Drops what this process remembers of a course (after changing it here). */
  forget(id: number): void {
    this.knownCourses.delete(id);
  }

  private async windowOf(id: number): Promise<RegistrationWindow> {
    const cached = this.knownCourses.get(id);
    if (cached && cached.expires > Date.now()) return cached;
    let lookup = this.lookups.get(id);
    if (!lookup) {
      lookup = this.courses
        .findOne({ where: { id }, select: { id: true, opensAt: true, closesAt: true } })
        .then((course) => course && { opensAt: course.opensAt, closesAt: course.closesAt })
        .finally(() => this.lookups.delete(id));
      this.lookups.set(id, lookup);
    }
    const window = await lookup;
    if (!window) throw new DomainError(DomainErrorCode.CourseNotFound, `course_id ${id} does not exist`);
    this.knownCourses.set(id, { ...window, expires: Date.now() + this.cacheTtlMs });
    return window;
  }

  /**
   * Takes the write locks of the courses' rows inside the allocation transaction, in id order so two
   * transactions can never wait on each other: every change to a course's seats and waitlist happens while
   * its lock is held, which is what keeps seats_taken <= capacity under races. Returns the rows of the
   * courses that exist.
   */
  async lockForAllocation(manager: EntityManager, ids: readonly number[]): Promise<Course[]> {
    return manager.find(Course, {
      where: { id: In([...new Set(ids)]) },
      order: { id: 'ASC' },
      lock: { mode: 'pessimistic_write' },
    });
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

/** A registration window must open before it closes (also a CHECK constraint: this names the fields). */
export function assertWindowOrder(opensAt: Date | null, closesAt: Date | null): void {
  if (opensAt && closesAt && opensAt >= closesAt) {
    throw new DomainError(
      DomainErrorCode.CourseWindowInvalid,
      `opens_at (${opensAt.toISOString()}) must be before closes_at (${closesAt.toISOString()})`,
    );
  }
}

/** An ISO 8601 field as validated by the DTO: absent or null means no limit. */
export function dateOrNull(value: string | null | undefined): Date | null {
  return value === undefined || value === null ? null : new Date(value);
}
