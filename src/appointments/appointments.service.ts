import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { isConnectionError } from '../database/database-errors.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { AppointmentWindows } from './appointment-windows.js';
import type { AppointmentRow, AppointmentWindow } from './dto/appointment-batch.js';
import { StudentAppointment } from './student-appointment.entity.js';

/** A row of student_appointments as PostgreSQL returns it. */
interface AppointmentRecord {
  student_id: string;
  opens_at: Date;
  closes_at: Date | null;
  updated_at: Date;
}

const UPSERT = `INSERT INTO "student_appointments" ("student_id", "opens_at", "closes_at", "updated_at")`;
const REPLACE = `ON CONFLICT ("student_id") DO UPDATE
   SET "opens_at" = EXCLUDED."opens_at", "closes_at" = EXCLUDED."closes_at", "updated_at" = EXCLUDED."updated_at"`;

/**
 * Registration appointments (time tickets, contract v3, Fair opening): the operators' writes and reads, and
 * the accept path's check. The check reads through AppointmentWindows: from memory for COURSE_CACHE_TTL_MS
 * (the one setting that bounds how stale the accept path's reads of courses and appointments may be), and
 * the misses of one event-loop turn, whatever their students, in one query. A write through this process
 * drops what it knew of those students at once; another API process applies it within the TTL.
 */
@Injectable()
export class AppointmentsService {
  private readonly logger = new Logger(AppointmentsService.name);
  private readonly windows: AppointmentWindows;
  private readonly cacheTtlMs: number;
  /**
   * Whether any appointment exists, as last read, and until when that is trusted: while none does (most of
   * the year), the accept path reads nothing per student, and a PostgreSQL outage does not stop it.
   */
  private anyKnown?: { value: boolean; expires: number };
  private anyLookup?: Promise<boolean>;

  constructor(
    @InjectRepository(StudentAppointment) private readonly appointments: Repository<StudentAppointment>,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.windows = new AppointmentWindows((ids) => this.windowsOf(ids), config.courseCacheTtlMs);
    this.cacheTtlMs = config.courseCacheTtlMs;
  }

  /**
   * Whether the table holds any appointment: one indexed read per COURSE_CACHE_TTL_MS per process (shared by
   * concurrent callers). If it cannot be read, the last answer stands.
   */
  private async anyAppointments(): Promise<boolean> {
    const known = this.anyKnown;
    if (known && known.expires > Date.now()) return known.value;
    this.anyLookup ??= this.appointments
      .query('SELECT EXISTS (SELECT 1 FROM "student_appointments") AS "any"')
      .then((rows: Array<{ any: boolean }>) => {
        this.anyKnown = { value: rows[0].any, expires: Date.now() + this.cacheTtlMs };
        return rows[0].any;
      })
      .catch((error: unknown) => {
        if (known) return known.value;
        throw error;
      })
      .finally(() => (this.anyLookup = undefined));
    return this.anyLookup;
  }

  /**
   * Resolves when `at` lies inside the student's appointment, or when they have none; otherwise throws
   * AppointmentNotOpen / AppointmentClosed (409) naming when. Answers from memory for a student seen
   * recently. A failed read is the 503 of an unavailable database, never a 500.
   */
  async assertWithin(studentId: string, at: Date): Promise<void> {
    let window: AppointmentWindow | null;
    try {
      if (!(await this.anyAppointments())) return;
      window = await this.windows.of(studentId);
    } catch (error) {
      if (!isConnectionError(error)) {
        this.logger.error({ err: error, studentId }, 'appointment lookup failed');
      }
      throw new DomainError(
        DomainErrorCode.DatabaseUnavailable,
        'the database (PostgreSQL) is unavailable; retry later',
      );
    }
    if (!window) return;
    if (at < window.opensAt) {
      throw new DomainError(
        DomainErrorCode.AppointmentNotOpen,
        `student ${studentId}'s registration appointment opens at ${window.opensAt.toISOString()}`,
      );
    }
    if (window.closesAt && at >= window.closesAt) {
      throw new DomainError(
        DomainErrorCode.AppointmentClosed,
        `student ${studentId}'s registration appointment closed at ${window.closesAt.toISOString()}`,
      );
    }
  }

  /** The student's appointment as it is in PostgreSQL now (404 if none). */
  async get(studentId: string): Promise<StudentAppointment> {
    const appointment = await this.appointments.findOneBy({ studentId });
    if (!appointment) throw notFound(studentId);
    return appointment;
  }

  /** Sets the student's appointment, replacing any they had. */
  async set(studentId: string, window: AppointmentWindow): Promise<StudentAppointment> {
    try {
      const [written] = (await this.appointments.query(
        `${UPSERT} VALUES ($1, $2, $3, now()) ${REPLACE}
         RETURNING "student_id", "opens_at", "closes_at", "updated_at"`,
        [studentId, window.opensAt.toISOString(), window.closesAt?.toISOString() ?? null],
      )) as AppointmentRecord[];
      this.anyKnown = { value: true, expires: Date.now() + this.cacheTtlMs };
      return appointmentOf(written);
    } finally {
      this.windows.forget([studentId]);
    }
  }

  /** Sets every row's appointment in one statement: all of them, or (if it fails) none. */
  async setMany(rows: AppointmentRow[]): Promise<number> {
    try {
      const [{ upserted }] = (await this.appointments.query(
        `WITH "written" AS (
           ${UPSERT}
           SELECT "student_id", "opens_at", "closes_at", now()
             FROM unnest($1::varchar[], $2::timestamptz[], $3::timestamptz[])
                  AS "row" ("student_id", "opens_at", "closes_at")
           ${REPLACE}
           RETURNING 1
         )
         SELECT count(*)::int AS "upserted" FROM "written"`,
        [
          rows.map((row) => row.studentId),
          rows.map((row) => row.opensAt.toISOString()),
          rows.map((row) => row.closesAt?.toISOString() ?? null),
        ],
      )) as Array<{ upserted: number }>;
      this.anyKnown = { value: true, expires: Date.now() + this.cacheTtlMs };
      return upserted;
    } finally {
      this.windows.forget(rows.map((row) => row.studentId));
    }
  }

  /** Lifts the student's appointment (404 if they had none): only course windows bind them now. */
  async remove(studentId: string): Promise<void> {
    try {
      // A SELECT around the DELETE: TypeORM answers a bare DELETE with [rows, count], not its rows.
      const [{ removed }] = (await this.appointments.query(
        `WITH "gone" AS (DELETE FROM "student_appointments" WHERE "student_id" = $1 RETURNING 1)
         SELECT count(*)::int AS "removed" FROM "gone"`,
        [studentId],
      )) as Array<{ removed: number }>;
      if (removed === 0) throw notFound(studentId);
    } finally {
      this.windows.forget([studentId]);
    }
  }

  /** The appointments of these students, in one query; a student without one is not in the map. */
  private async windowsOf(studentIds: string[]): Promise<Map<string, AppointmentWindow>> {
    const rows = (await this.appointments.query(
      `SELECT "student_id", "opens_at", "closes_at" FROM "student_appointments" WHERE "student_id" = ANY($1::varchar[])`,
      [studentIds],
    )) as Array<Omit<AppointmentRecord, 'updated_at'>>;
    return new Map(rows.map((row) => [row.student_id, { opensAt: row.opens_at, closesAt: row.closes_at }]));
  }
}

function appointmentOf(record: AppointmentRecord): StudentAppointment {
  return Object.assign(new StudentAppointment(), {
    studentId: record.student_id,
    opensAt: record.opens_at,
    closesAt: record.closes_at,
    updatedAt: record.updated_at,
  });
}

function notFound(studentId: string): DomainError {
  return new DomainError(
    DomainErrorCode.AppointmentNotFound,
    `student ${studentId} has no registration appointment`,
  );
}
