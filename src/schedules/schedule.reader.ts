import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import type { DecidedRequest } from '../decisions/decisions.service.js';
import type { Meeting } from './meeting.js';
import {
  blockOf,
  dropCourse,
  type OverrideKind,
  type OverrideRecord,
  type StudentSchedule,
} from './schedule.rules.js';
import { readSchedules } from './schedule.statements.js';

/** A student's schedule as GET /students/:id/schedule shows it, before the requests are filled in. */
export interface ScheduleSummary {
  studentId: string;
  /** The limits in force: the student's own, or the configured default; null: none. */
  maxCredits: number | null;
  maxWaitlisted: number | null;
  enrolledCredits: number;
  waitlistedCount: number;
  overrides: OverrideRecord[];
}

/**
 * The read side of schedules: a student's load and limits, their unexpired overrides, and why a waiting
 * request is blocked now. Reads without locks (what a portal polls), from the same rows the ledger
 * writes under its locks.
 */
@Injectable()
export class ScheduleReader {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async summary(studentId: string): Promise<ScheduleSummary> {
    const schedule = (await this.schedules([studentId])).get(studentId)!;
    const overrides: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT id, student_id, course_id, kinds, expires_at, created_at FROM schedule_overrides
        WHERE student_id = $1 AND (expires_at IS NULL OR expires_at > now()) ORDER BY id`,
      [studentId],
    );
    return {
      studentId,
      maxCredits: schedule.creditLimit,
      maxWaitlisted: schedule.waitlistLimit,
      enrolledCredits: schedule.enrolledCredits,
      waitlistedCount: schedule.waitlistedCount,
      overrides: overrides.map((row) => ({
        id: String(row.id),
        studentId: row.student_id as string,
        courseId: row.course_id as number,
        kinds: row.kinds as OverrideKind[],
        expiresAt: (row.expires_at as Date | null) ?? null,
        createdAt: row.created_at as Date,
      })),
    };
  }

  /**
   * Sets blockedReason on the waitlisted requests among these (null where nothing blocks them). A swap's
   * request is judged without the course it would give up, when that one is held as an enrollment.
   */
  async withBlockedReasons(requests: DecidedRequest[]): Promise<DecidedRequest[]> {
    const waiting = requests.filter((request) => request.status === 'waitlisted');
    if (waiting.length === 0) return requests;
    const schedules = await this.schedules([...new Set(waiting.map((request) => request.studentId))]);
    const swapped = waiting.flatMap((request) => (request.swapFor ? [request.swapFor] : []));
    const enrolledTargets: Array<{ idempotency_key: string; course_id: number }> =
      swapped.length === 0
        ? []
        : await this.dataSource.query(
            `SELECT idempotency_key, course_id FROM decisions
              WHERE idempotency_key = ANY($1::varchar[]) AND status = 'enrolled'`,
            [swapped],
          );
    const givenUp = new Map(enrolledTargets.map((row) => [row.idempotency_key, row.course_id]));
    const courses: Array<{ id: number; credits: string; meetings: Meeting[] }> = await this.dataSource.query(
      'SELECT id, credits, meetings FROM courses WHERE id = ANY($1::int[])',
      [[...new Set(waiting.map((request) => request.courseId))]],
    );
    const byId = new Map(
      courses.map((course) => [course.id, { ...course, credits: Number(course.credits) }]),
    );
    return requests.map((request) => {
      const course = byId.get(request.courseId);
      if (request.status !== 'waitlisted' || !course) return request;
      const schedule = schedules.get(request.studentId)!;
      const target = request.swapFor ? givenUp.get(request.swapFor) : undefined;
      const judged = target === undefined ? schedule : dropCourse(schedule, target);
      return { ...request, blockedReason: blockOf(judged, course) };
    });
  }

  /** Students' schedules with their holdings and the limits in force (defaults for those without a row). */
  private schedules(studentIds: string[]): Promise<Map<string, StudentSchedule>> {
    return readSchedules(this.dataSource.manager, studentIds, this.config.schedule);
  }
}
