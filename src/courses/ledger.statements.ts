import { type CourseChangeType } from '../decisions/vocabulary.js';
import type { EntityManager } from 'typeorm';
import type { DecisionStatus, DropReason } from '../decisions/decision.entity.js';
import type { Course } from './course.entity.js';
import { type LoadWrite, writeLoadsSql } from '../schedules/schedule.statements.js';
import {
  type CounterChange,
  type CourseCounters,
  type Hold,
  type JobDecision,
  departEntries,
  leaveWaitlist,
  offerSeats,
  promoteEntries,
} from './seat.rules.js';

// The course ledger's SQL: every statement here runs inside a transaction that holds the course rows'
// locks (CourseLedger takes them first), and each writes a whole plan of the seat rules in one round trip.

/** A decision as the ledger writes it: the rules' verdict with the request's priority and acceptance time. */
export interface LedgerDecision extends JobDecision {
  priority: number;
  requestedAt: string;
  /** The request its swap names (contract v3), if it has one. */
  swapFor?: string;
  /** Its place in its course's opening draw (contract v3), if it was a draw entry. */
  drawRank?: number;
}

/** One row of course_changes, written in the transaction that made the change. */
export interface NewEvent {
  type: CourseChangeType;
  idempotencyKey?: string;
  studentId?: string;
  status?: string;
  capacity?: number;
  /** A drop's cause, where it has one (swapped). */
  reason?: DropReason;
  /** For drawn: the entry count and the revealed seed. */
  entries?: number;
  seed?: string;
}

/** A request's decision and, while waitlisted, its stored position. */
export interface RequestState {
  status: DecisionStatus;
  position: number | null;
}

export function countersOf(course: Course): CourseCounters {
  return {
    capacity: course.capacity,
    seatsTaken: course.seatsTaken,
    seatsHeld: course.seatsHeld,
    waitlistOffset: course.waitlistOffset,
    waitlistLength: course.waitlistLength,
    eventsWritten: course.eventsWritten,
  };
}

/** The request's decision and, while waitlisted, its stored position; null while it is queued. */
export async function readRequestState(
  manager: EntityManager,
  idempotencyKey: string,
): Promise<RequestState | null> {
  const rows: RequestState[] = await manager.query(
    `SELECT d.status, w.position FROM decisions d
       LEFT JOIN waitlist_entries w ON w.idempotency_key = d.idempotency_key
      WHERE d.idempotency_key = $1`,
    [idempotencyKey],
  );
  return rows[0] ?? null;
}

/**
 * Which of a batch's requests are decided already (a redelivery, or cancelled while queued) and what its
 * students hold in its courses, in one read (an offered seat counts as a waiting place: one place per
 * student per course). Where each waitlist ends comes with the course row.
 */
export async function readBatchState(
  manager: EntityManager,
  requests: ReadonlyArray<{ idempotencyKey: string; studentId: string; courseId: number }>,
): Promise<{ decided: Set<string>; holdsIn(courseId: number): ReadonlyMap<string, Hold> }> {
  const [row]: Array<{ decided: string[]; held: Array<[number, string, Hold]> }> = await manager.query(
    `SELECT ARRAY(SELECT idempotency_key FROM decisions WHERE idempotency_key = ANY($1::varchar[])) AS decided,
            (SELECT COALESCE(json_agg(json_build_array(course_id, student_id, hold)), '[]')
               FROM (SELECT course_id, student_id, 'enrolled' AS hold FROM enrollments
                      WHERE (course_id, student_id) IN (SELECT * FROM unnest($2::int[], $3::varchar[]))
                     UNION ALL
                     SELECT course_id, student_id, 'waitlisted' FROM waitlist_entries
                      WHERE (course_id, student_id) IN (SELECT * FROM unnest($2::int[], $3::varchar[]))
                     UNION ALL
                     SELECT course_id, student_id, 'waitlisted' FROM decisions
                      WHERE status = 'offered'
                        AND (course_id, student_id) IN (SELECT * FROM unnest($2::int[], $3::varchar[]))) h) AS held`,
    [
      requests.map((request) => request.idempotencyKey),
      requests.map((request) => request.courseId),
      requests.map((request) => request.studentId),
    ],
  );
  const holds = new Map<number, Map<string, Hold>>();
  for (const [courseId, studentId, hold] of row.held) {
    if (!holds.has(courseId)) holds.set(courseId, new Map());
    holds.get(courseId)!.set(studentId, hold);
  }
  return {
    decided: new Set(row.decided),
    holdsIn: (courseId: number): ReadonlyMap<string, Hold> => holds.get(courseId) ?? new Map(),
  };
}

/**
 * A batch's decisions (each with its number in its course's record: a decision row is its own event), the
 * new enrollments, the new waitlist entries and the courses' counters as one statement. The batch travels
 * as one JSON parameter (PostgreSQL's json_to_recordset reads it by field name), which costs the worker far
 * less than serializing a parameter array per column.
 */
export async function writeDecisions(
  manager: EntityManager,
  decisions: readonly LedgerDecision[],
  changes: readonly CounterChange[],
  loads: readonly LoadWrite[],
): Promise<void> {
  await manager.query(
    `WITH d AS MATERIALIZED (
       SELECT * FROM json_to_recordset($1::json) AS d(
         "idempotencyKey" varchar, "studentId" varchar, "courseId" int, priority smallint, status varchar,
         reason varchar, "requestedAt" timestamptz, "waitlistPosition" int, "waitlistPlace" int, seq int, ord int,
         "swapFor" varchar, "drawRank" int)
     ), new_decisions AS (
       INSERT INTO decisions (idempotency_key, student_id, course_id, priority, status, reason, requested_at, decided_at,
                              decided_as, decision_seq, decided_place, swap_for, draw_rank)
       SELECT "idempotencyKey", "studentId", "courseId", priority, status, reason, "requestedAt", now(),
              status, seq, "waitlistPlace", "swapFor", "drawRank" FROM d ORDER BY ord
     ), new_enrollments AS (
       INSERT INTO enrollments (course_id, student_id, idempotency_key)
       SELECT "courseId", "studentId", "idempotencyKey" FROM d WHERE status = 'enrolled' ORDER BY ord
     ), new_waitlist_entries AS (
       INSERT INTO waitlist_entries (course_id, student_id, idempotency_key, position)
       SELECT "courseId", "studentId", "idempotencyKey", "waitlistPosition" FROM d WHERE status = 'waitlisted' ORDER BY ord
     ), ${writeLoadsSql(3)}
     UPDATE courses
        SET seats_taken = c."seatsTaken",
            waitlist_length = courses.waitlist_length + c.waitlisted,
            requests_decided = courses.requests_decided + c.decided,
            events_written = c."eventsWritten"
       FROM json_to_recordset($2::json) AS c("courseId" int, "seatsTaken" int, waitlisted int, decided int, "eventsWritten" int)
      WHERE courses.id = c."courseId"`,
    [
      JSON.stringify(decisions.map((decision, ord) => ({ ...decision, ord }))),
      JSON.stringify(changes),
      JSON.stringify(loads),
    ],
  );
}

/**
 * A queued request's one decision made by the API rather than a worker: `cancelled` (withdrawn) or
 * `rejected` (a dead letter an operator rejected). The decisions table's primary key makes it the only one:
 * a worker that reaches the request later finds it decided. Its row is its event in the course's record,
 * numbered under the course row lock (none if the course is gone). Returns the sequence number it took.
 */
export async function insertApiDecision(
  manager: EntityManager,
  course: Course | undefined,
  request: {
    idempotencyKey: string;
    studentId: string;
    courseId: number;
    priority: number;
    requestedAt: string;
    swapFor?: string;
  },
  status: 'cancelled' | 'rejected',
): Promise<{ seq: number | null; at: Date }> {
  const seq = course ? course.eventsWritten + 1 : null;
  const [row]: Array<{ at: Date }> = await manager.query(
    `INSERT INTO decisions (idempotency_key, student_id, course_id, priority, status, reason, requested_at,
                            decided_at, dropped_at, decided_as, decision_seq, swap_for)
     VALUES ($1, $2, $3, $4, $6::varchar, $7, $5, now(), CASE WHEN $6::varchar = 'cancelled' THEN now() END,
             $6::varchar, $8, $9)
     RETURNING decided_at AS at`,
    [
      request.idempotencyKey,
      request.studentId,
      request.courseId,
      request.priority,
      request.requestedAt,
      status,
      status === 'rejected' ? 'dead_letter' : null,
      seq,
      request.swapFor ?? null,
    ],
  );
  return { seq, at: row.at };
}

/**
 * Removes a waitlist entry and keeps the positions dense by shifting the shorter run beside it (see
 * leaveWaitlist in the seat rules); the uniqueness of positions is checked at each statement's end
 * (deferrable).
 */
export async function removeFromWaitlist(
  manager: EntityManager,
  courseId: number,
  counters: CourseCounters,
  position: number,
): Promise<CourseCounters> {
  const departure = leaveWaitlist(counters, position);
  await manager.query('DELETE FROM waitlist_entries WHERE course_id = $1 AND position = $2', [
    courseId,
    position,
  ]);
  if (departure.shift === 'ahead') {
    await manager.query(
      `UPDATE waitlist_entries SET position = position + 1
        WHERE course_id = $1 AND position > $2 AND position < $3`,
      [courseId, counters.waitlistOffset, position],
    );
  } else if (departure.shift === 'behind') {
    await manager.query(
      'UPDATE waitlist_entries SET position = position - 1 WHERE course_id = $1 AND position > $2',
      [courseId, position],
    );
  }
  return departure.course;
}

/** A waiting request as promotion reads it, in waitlist order. */
export interface WaitingEntry {
  idempotencyKey: string;
  studentId: string;
  position: number;
  /** Its swap (contract v3): the request it replaces, and that request's state, course and waiting place. */
  swapFor: string | null;
  targetStatus: DecisionStatus | null;
  targetCourseId: number | null;
  targetPosition: number | null;
}

/**
 * Up to `limit` of a course's waiting requests after stored position `after`, in waitlist order, each with
 * its swap's named request as it stands (accurate only when that request's course is locked too).
 */
export function readWaiting(
  manager: EntityManager,
  courseId: number,
  after: number,
  limit: number,
): Promise<WaitingEntry[]> {
  return manager.query(
    `SELECT w.idempotency_key AS "idempotencyKey", w.student_id AS "studentId", w.position,
            d.swap_for AS "swapFor", t.status AS "targetStatus", t.course_id AS "targetCourseId",
            tw.position AS "targetPosition"
       FROM waitlist_entries w
       JOIN decisions d ON d.idempotency_key = w.idempotency_key
       LEFT JOIN decisions t ON t.idempotency_key = d.swap_for
       LEFT JOIN waitlist_entries tw ON tw.idempotency_key = d.swap_for
      WHERE w.course_id = $1 AND w.position > $2 ORDER BY w.position LIMIT $3`,
    [courseId, after, limit],
  );
}

/** A change to one locked course, as writeChange writes it. */
export interface CourseChangeWrite {
  events: readonly NewEvent[];
  /** Requests decided by the change (a cancellation), for the course's counter. */
  decided: number;
  /** The requests dropped (status `dropped`, an enrollment's seat freed), each with its cause if it has one. */
  drops?: ReadonlyArray<{ idempotencyKey: string; reason: DropReason | null }>;
  /** The waiting requests promoted, in waitlist order (stored positions); blocked ones between keep their place. */
  promoted?: readonly number[];
  /** Waiting places given up by a swap (stored positions): removed with the promotions, in one shift. */
  departed?: readonly number[];
  /** Waiting requests offered a held seat (offer mode; stored positions), with how long the offer stands. */
  offered?: readonly number[];
  offerTtlSeconds?: number;
  /** Offered requests enrolled (an accept, or the switch to auto): their held seats become taken. */
  accepted?: readonly string[];
  /** Load rows to write in the same statement (locked by the transaction). */
  loads?: readonly LoadWrite[];
}

/**
 * Writes a change in one statement, after the course's lock was taken and its state read: the dropped
 * requests (their enrollments gone, if they had one, and their status), then the promotions the ledger
 * planned (guarantee 6, skip-and-keep) — each promoted entry leaves the waitlist, gets an enrollment,
 * becomes `enrolled` with promoted_at — and the waiting places a swap gave up; each entry passed over
 * moves back by the number of removed entries behind it, so with the offset grown by their count every
 * place stays dense — then the change's events and the promotions' (numbered after the course's last
 * event), the load rows, and the course's counters. One round trip under the lock instead of one per step.
 */
export async function writeChange(
  manager: EntityManager,
  courseId: number,
  counters: CourseCounters,
  change: CourseChangeWrite,
): Promise<Date> {
  const promoted = change.promoted ?? [];
  const departed = change.departed ?? [];
  const offered = change.offered ?? [];
  const accepted = change.accepted ?? [];
  const drops = change.drops ?? [];
  const removed = [...promoted, ...departed, ...offered];
  const after = offerSeats(
    departEntries(promoteEntries(counters, promoted.length), departed.length),
    offered.length,
  );
  const firstPromotedSeq = counters.eventsWritten + change.events.length + 1;
  const firstOfferedSeq = firstPromotedSeq + promoted.length;
  // TypeORM answers an UPDATE … RETURNING with [rows, affected count].
  const [[row]]: [
    Array<{ promoted: number; departed: number; offered: number; accepted: number; at: Date }>,
    number,
  ] = await manager.query(
    `WITH dropped AS (
       UPDATE decisions SET status = 'dropped', dropped_at = now(), reason = x.reason, offer_expires_at = NULL
         FROM unnest($9::varchar[], $15::varchar[]) AS x(key, reason)
        WHERE decisions.idempotency_key = x.key RETURNING decisions.idempotency_key
     ), freed AS (
       DELETE FROM enrollments WHERE idempotency_key = ANY($9::varchar[])
     ), heads AS (
       DELETE FROM waitlist_entries WHERE course_id = $1 AND position = ANY($10::int[])
       RETURNING idempotency_key, student_id, position
     ), departed AS (
       DELETE FROM waitlist_entries WHERE course_id = $1 AND position = ANY($16::int[]) RETURNING position
     ), offers AS (
       DELETE FROM waitlist_entries WHERE course_id = $1 AND position = ANY($18::int[])
       RETURNING idempotency_key, student_id, position
     ), offered AS (
       UPDATE decisions SET status = 'offered', offer_expires_at = now() + make_interval(secs => $19)
         FROM offers WHERE decisions.idempotency_key = offers.idempotency_key
     ), accepted AS (
       UPDATE decisions SET status = 'enrolled', promoted_at = now(), offer_expires_at = NULL
        WHERE idempotency_key = ANY($20::varchar[]) AND status = 'offered'
       RETURNING idempotency_key, student_id
     ), accepted_seats AS (
       INSERT INTO enrollments (course_id, student_id, idempotency_key)
       SELECT $1, student_id, idempotency_key FROM accepted
     ), passed_over AS (
       UPDATE waitlist_entries w
          SET position = w.position + (SELECT count(*) FROM unnest($17::int[]) AS p WHERE p > w.position)
        WHERE w.course_id = $1 AND w.position > $13 AND w.position < $11 AND w.position <> ALL($17::int[])
     ), enrolled AS (
       INSERT INTO enrollments (course_id, student_id, idempotency_key)
       SELECT $1, student_id, idempotency_key FROM heads ORDER BY position
     ), promoted AS (
       UPDATE decisions SET status = 'enrolled', promoted_at = now()
         FROM heads WHERE decisions.idempotency_key = heads.idempotency_key
     ), new_events AS (
       INSERT INTO course_changes (course_id, seq, type, idempotency_key, student_id, status, capacity, reason,
                                   entries, seed)
       SELECT $1, $7 + ord, type, "idempotencyKey", "studentId", status, capacity, reason, entries, seed
         FROM json_to_recordset($8::json) AS e(
           type varchar, "idempotencyKey" varchar, "studentId" varchar, status varchar, capacity int,
           reason varchar, ord int, entries int, seed varchar)
       UNION ALL
       SELECT $1, $12 + p.ord - 1, 'promoted', h.idempotency_key, h.student_id, 'enrolled', NULL, NULL, NULL, NULL
         FROM heads h JOIN unnest($10::int[]) WITH ORDINALITY AS p(position, ord) ON p.position = h.position
       UNION ALL
       SELECT $1, $21 + p.ord - 1, 'offered', o.idempotency_key, o.student_id, 'offered', NULL, NULL, NULL, NULL
         FROM offers o JOIN unnest($18::int[]) WITH ORDINALITY AS p(position, ord) ON p.position = o.position
     ), ${writeLoadsSql(14)}
     UPDATE courses
        SET capacity = $2, seats_taken = $3, waitlist_offset = $4, waitlist_length = $5,
            requests_decided = requests_decided + $6, seats_held = $22,
            events_written = $21 + cardinality($18::int[]) - 1
      WHERE id = $1
     RETURNING (SELECT count(*)::int FROM heads) AS promoted, (SELECT count(*)::int FROM departed) AS departed,
               (SELECT count(*)::int FROM offers) AS offered, (SELECT count(*)::int FROM accepted) AS accepted,
               now() AS at`,
    [
      courseId,
      after.capacity,
      after.seatsTaken,
      after.waitlistOffset,
      after.waitlistLength,
      change.decided,
      counters.eventsWritten,
      JSON.stringify(change.events.map((event, index) => ({ ...event, ord: index + 1 }))),
      drops.map((drop) => drop.idempotencyKey),
      promoted,
      removed.length === 0 ? 0 : Math.max(...removed),
      firstPromotedSeq,
      counters.waitlistOffset,
      JSON.stringify(change.loads ?? []),
      drops.map((drop) => drop.reason),
      departed,
      removed,
      offered,
      change.offerTtlSeconds ?? 0,
      accepted,
      firstOfferedSeq,
      after.seatsHeld,
    ],
  );
  if (
    row.promoted !== promoted.length ||
    row.departed !== departed.length ||
    row.offered !== offered.length ||
    row.accepted !== accepted.length
  ) {
    // The plan and the rows disagree: roll back rather than write a wrong waitlist.
    throw new Error(
      `course ${courseId}: expected ${promoted.length} promoted, ${departed.length} departing and ` +
        `${offered.length} offered waiting entries and ${accepted.length} accepted offers, found ` +
        `${row.promoted}, ${row.departed}, ${row.offered} and ${row.accepted}`,
    );
  }
  return row.at;
}
