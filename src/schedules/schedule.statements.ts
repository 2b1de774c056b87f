import type { EntityManager } from 'typeorm';
import type { Meeting } from './meeting.js';
import { type OverrideKind, type ScheduledCourse, settle, type StudentSchedule } from './schedule.rules.js';

// The SQL of students' schedules. Load rows are locked after the course rows (the ledger's one global
// order: courses by id, then students by id), and read again only after the lock is held, so what the
// rules see cannot move before the transaction commits.

/** The limits in force when a student has none of their own. */
export interface ScheduleDefaults {
  defaultMaxCredits: number | null;
  defaultMaxWaitlisted: number | null;
}

interface LoadRow {
  student_id: string;
  max_credits: string | null;
  max_waitlisted: number | null;
  credit_limit: string | null;
  waitlist_limit: number | null;
  enrolled_credits: string;
  waitlisted_count: number;
  excused_credits: string;
  excused_waitlists: number;
}

/** A locked load row, and the schedule the rules work on. */
export interface LockedLoad {
  /** The operator's own limits (null: the default). */
  maxCredits: number | null;
  maxWaitlisted: number | null;
  /** As the row holds it now; the schedule's may differ when the default changed. */
  stored: StudentSchedule;
  schedule: StudentSchedule;
  /** No row yet: the transaction's write inserts it (a concurrent insert of the same student fails it). */
  isNew: boolean;
}

const numberOrNull = (value: string | null): number | null => (value === null ? null : Number(value));

/**
 * Locks the load rows of these students, in student-id order, and returns them. With `create`, the missing
 * rows are created and locked in the same statement (INSERT … ON CONFLICT DO UPDATE locks an existing row
 * as it returns it). Without it, existing rows are locked (SELECT … FOR UPDATE) and a missing one comes
 * back as a new, empty load the transaction's write inserts: a student deciding for the first time costs
 * one insert, not an insert and an update, and a concurrent first insert of the same student makes one of
 * the two transactions fail on the primary key and start again (it then finds the row and locks it).
 * Each schedule's limits are the ones in force now (the student's own, or the defaults); its courses and
 * overrides are filled by readHoldings.
 */
export async function lockLoads(
  manager: EntityManager,
  studentIds: readonly string[],
  defaults: ScheduleDefaults,
  create = true,
): Promise<Map<string, LockedLoad>> {
  const loads = new Map<string, LockedLoad>();
  if (studentIds.length === 0) return loads;
  const rows: LoadRow[] = create
    ? await manager.query(
        `INSERT INTO student_loads (student_id)
         SELECT DISTINCT s FROM unnest($1::varchar[]) AS s ORDER BY 1
         ON CONFLICT (student_id) DO UPDATE SET student_id = excluded.student_id
         RETURNING *`,
        [studentIds],
      )
    : await manager.query(
        `SELECT * FROM student_loads WHERE student_id = ANY($1::varchar[]) ORDER BY student_id FOR UPDATE`,
        [studentIds],
      );
  const found = new Set(rows.map((row) => row.student_id));
  for (const studentId of studentIds) {
    if (found.has(studentId)) continue;
    rows.push({
      student_id: studentId,
      max_credits: null,
      max_waitlisted: null,
      credit_limit: null,
      waitlist_limit: null,
      enrolled_credits: '0',
      waitlisted_count: 0,
      excused_credits: '0',
      excused_waitlists: 0,
    });
  }
  for (const row of rows) {
    const maxCredits = numberOrNull(row.max_credits);
    const maxWaitlisted = row.max_waitlisted;
    const stored: StudentSchedule = {
      studentId: row.student_id,
      creditLimit: numberOrNull(row.credit_limit),
      waitlistLimit: row.waitlist_limit,
      enrolledCredits: Number(row.enrolled_credits),
      waitlistedCount: row.waitlisted_count,
      excusedCredits: Number(row.excused_credits),
      excusedWaitlists: row.excused_waitlists,
      enrolled: [],
      overrides: new Map(),
    };
    const creditLimit = maxCredits ?? defaults.defaultMaxCredits;
    const waitlistLimit = maxWaitlisted ?? defaults.defaultMaxWaitlisted;
    const schedule =
      creditLimit === stored.creditLimit && waitlistLimit === stored.waitlistLimit
        ? stored
        : settle(stored, { creditLimit, waitlistLimit });
    loads.set(row.student_id, {
      maxCredits,
      maxWaitlisted,
      stored,
      schedule,
      isNew: !found.has(row.student_id),
    });
  }
  return loads;
}

/** What students hold, read alongside their load rows: their enrolled courses and unexpired overrides. */
export interface Holdings {
  enrolled: Map<string, ScheduledCourse[]>;
  overrides: Map<string, Map<number, Set<OverrideKind>>>;
}

/** The students' enrolled courses (credits and meetings) and unexpired overrides, in one read. */
export async function readHoldings(manager: EntityManager, studentIds: readonly string[]): Promise<Holdings> {
  const holdings: Holdings = { enrolled: new Map(), overrides: new Map() };
  if (studentIds.length === 0) return holdings;
  const [row]: Array<{
    enrolled: Array<[string, number, string, Meeting[]]>;
    overrides: Array<[string, number, OverrideKind[]]>;
  }> = await manager.query(
    `SELECT (SELECT COALESCE(json_agg(json_build_array(e.student_id, c.id, c.credits, c.meetings)), '[]')
               FROM enrollments e JOIN courses c ON c.id = e.course_id
              WHERE e.student_id = ANY($1::varchar[])) AS enrolled,
            (SELECT COALESCE(json_agg(json_build_array(student_id, course_id, kinds)), '[]')
               FROM schedule_overrides
              WHERE student_id = ANY($1::varchar[]) AND (expires_at IS NULL OR expires_at > now())) AS overrides`,
    [studentIds],
  );
  for (const [studentId, id, credits, meetings] of row.enrolled) {
    if (!holdings.enrolled.has(studentId)) holdings.enrolled.set(studentId, []);
    holdings.enrolled.get(studentId)!.push({ id, credits: Number(credits), meetings });
  }
  for (const [studentId, courseId, kinds] of row.overrides) {
    if (!holdings.overrides.has(studentId)) holdings.overrides.set(studentId, new Map());
    const byCourse = holdings.overrides.get(studentId)!;
    const union = byCourse.get(courseId) ?? new Set<OverrideKind>();
    for (const kind of kinds) union.add(kind);
    byCourse.set(courseId, union);
  }
  return holdings;
}

/** A schedule with its holdings filled in. */
export function withHoldings(schedule: StudentSchedule, holdings: Holdings): StudentSchedule {
  return {
    ...schedule,
    enrolled: holdings.enrolled.get(schedule.studentId) ?? [],
    overrides: holdings.overrides.get(schedule.studentId) ?? new Map(),
  };
}

/** A load row as the ledger's write statements take it (JSON, by field name). */
export type LoadWrite = Pick<
  StudentSchedule,
  | 'studentId'
  | 'creditLimit'
  | 'waitlistLimit'
  | 'enrolledCredits'
  | 'waitlistedCount'
  | 'excusedCredits'
  | 'excusedWaitlists'
> & {
  /** Insert the row (it did not exist when the transaction locked the others). */
  isNew?: boolean;
};

/**
 * Students' schedules read without locks, with their holdings and the limits in force (the defaults for
 * a student without a row): what a reader shows, and what promotion uses to pass over a blocked request.
 */
export async function readSchedules(
  manager: EntityManager,
  studentIds: readonly string[],
  defaults: ScheduleDefaults,
): Promise<Map<string, StudentSchedule>> {
  const rows: LoadRow[] = await manager.query(
    'SELECT * FROM student_loads WHERE student_id = ANY($1::varchar[])',
    [studentIds],
  );
  const holdings = await readHoldings(manager, studentIds);
  const byId = new Map(rows.map((row) => [row.student_id, row]));
  return new Map(
    studentIds.map((studentId) => {
      const row = byId.get(studentId);
      const schedule: StudentSchedule = {
        studentId,
        creditLimit: numberOrNull(row?.max_credits ?? null) ?? defaults.defaultMaxCredits,
        waitlistLimit: row?.max_waitlisted ?? defaults.defaultMaxWaitlisted,
        enrolledCredits: Number(row?.enrolled_credits ?? 0),
        waitlistedCount: row?.waitlisted_count ?? 0,
        excusedCredits: Number(row?.excused_credits ?? 0),
        excusedWaitlists: row?.excused_waitlists ?? 0,
        enrolled: [],
        overrides: new Map(),
      };
      return [studentId, withHoldings(schedule, holdings)];
    }),
  );
}

export function loadWriteOf(schedule: StudentSchedule): LoadWrite {
  return {
    studentId: schedule.studentId,
    creditLimit: schedule.creditLimit,
    waitlistLimit: schedule.waitlistLimit,
    enrolledCredits: schedule.enrolledCredits,
    waitlistedCount: schedule.waitlistedCount,
    excusedCredits: schedule.excusedCredits,
    excusedWaitlists: schedule.excusedWaitlists,
  };
}

/** Did the load (counters or limits in force) change from what the row holds? */
export function loadChanged(stored: StudentSchedule, schedule: StudentSchedule): boolean {
  const a = loadWriteOf(stored);
  const b = loadWriteOf(schedule);
  return (Object.keys(a) as Array<keyof LoadWrite>).some((key) => a[key] !== b[key]);
}

/**
 * Two data-modifying CTEs (`new_loads`, `loads`) that write the load rows given as JSON parameter `$n`:
 * the new ones inserted, the others (locked by lockLoads in the same transaction) updated.
 */
export function writeLoadsSql(parameter: number): string {
  const rows = `json_to_recordset($${parameter}::json) AS l(
         "studentId" varchar, "isNew" boolean, "creditLimit" numeric, "waitlistLimit" int,
         "enrolledCredits" numeric, "waitlistedCount" int, "excusedCredits" numeric, "excusedWaitlists" int)`;
  return `new_loads AS (
       INSERT INTO student_loads (student_id, credit_limit, waitlist_limit, enrolled_credits, waitlisted_count,
                                  excused_credits, excused_waitlists)
       SELECT "studentId", "creditLimit", "waitlistLimit", "enrolledCredits", "waitlistedCount",
              "excusedCredits", "excusedWaitlists"
         FROM ${rows} WHERE "isNew" ORDER BY "studentId"
     ), loads AS (
       UPDATE student_loads
          SET credit_limit = l."creditLimit", waitlist_limit = l."waitlistLimit",
              enrolled_credits = l."enrolledCredits", waitlisted_count = l."waitlistedCount",
              excused_credits = l."excusedCredits", excused_waitlists = l."excusedWaitlists"
         FROM ${rows}
        WHERE NOT "isNew" AND student_loads.student_id = l."studentId"
     )`;
}

/** Writes load rows on their own, when no course changed with them (a student's new limits). */
export async function writeLoads(manager: EntityManager, loads: readonly LoadWrite[]): Promise<void> {
  if (loads.length === 0) return;
  await manager.query(`WITH ${writeLoadsSql(1)} SELECT 1`, [JSON.stringify(loads)]);
}
