import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type EntityManager, In, QueryFailedError, type Repository } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { Course } from './course.entity.js';
import type { CreateCourseDto } from './dto/create-course.dto.js';

const UNIQUE_VIOLATION = '23505';

@Injectable()
export class CoursesService {
  /** courseId -> expiry (ms). Courses are never deleted, so a short positive cache is safe on the accept path. */
  private readonly knownCourses = new Map<number, number>();
  /** Existence queries in flight, by course id. */
  private readonly lookups = new Map<number, Promise<boolean>>();
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
    try {
      return await this.courses.save(
        this.courses.create({ code: dto.code, title: dto.title, capacity: dto.capacity }),
      );
    } catch (error) {
      if (
        error instanceof QueryFailedError &&
        (error.driverError as { code?: string }).code === UNIQUE_VIOLATION
      ) {
        throw new DomainError(DomainErrorCode.CourseCodeTaken, `code ${dto.code} already exists`);
      }
      throw error;
    }
  }

  /**
   * Throws CourseNotFound unless the course exists; answers from memory when it was seen recently. Concurrent
   * misses for one course share one query, so a stampede on a course this process has not seen yet costs
   * one database round trip, not one per request.
   */
  async assertExists(id: number): Promise<void> {
    if ((this.knownCourses.get(id) ?? 0) > Date.now()) return;
    let lookup = this.lookups.get(id);
    if (!lookup) {
      lookup = this.courses.existsBy({ id }).finally(() => this.lookups.delete(id));
      this.lookups.set(id, lookup);
    }
    if (!(await lookup))
      throw new DomainError(DomainErrorCode.CourseNotFound, `course_id ${id} does not exist`);
    this.knownCourses.set(id, Date.now() + this.cacheTtlMs);
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
