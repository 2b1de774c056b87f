import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { CourseEventResponse } from './dto/course-event.response.js';

/** An event as the record holds it: its course's sequence number, and the object a client receives. */
export interface RecordedEvent {
  courseId: number;
  seq: number;
  /** The event object without its cursor (the cursor depends on who reads it). */
  body: Omit<CourseEventResponse, 'cursor'>;
  /** When its transaction wrote it (in that transaction, so shortly before its commit). */
  atMs: number;
}

/** Whose events a reader wants: a student's, one request's, or a whole course's. */
export type EventSelector =
  | { kind: 'student'; studentId: string }
  | { kind: 'request'; idempotencyKey: string }
  | { kind: 'course'; courseId: number };

/**
 * The read side of the record (the view course_events: each request's decision row, then the course's
 * later changes). A course's events are read by their course sequence number, which is also their commit
 * order (handed out under the course row lock), so the cursor is that number: resuming after it yields
 * every later event once, and an event can never commit behind a reader's cursor. Readers that span
 * courses (a student's events) keep one such number per course.
 */
@Injectable()
export class EventsService {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** One request's events, in order. */
  async forRequest(idempotencyKey: string): Promise<CourseEventResponse[]> {
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM course_events WHERE idempotency_key = $1 ORDER BY seq`,
      [idempotencyKey],
    );
    return rows.map(eventOf);
  }

  /** A page of a course's events after the cursor (from the first without one), in commit order. */
  async forCourse(courseId: number, after: number, limit: number): Promise<CourseEventResponse[]> {
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM course_events WHERE course_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [courseId, after, limit],
    );
    return rows.map(eventOf);
  }

  /**
   * The live feed's read: each course's events after its number, at most `limit` per course, in order;
   * with `only`, just the events of those students or requests (a process whose subscribers follow a few
   * students need not read every decision of a busy course); with `types`, just events of those types
   * (a webhook's).
   */
  async inCoursesAfter(
    after: ReadonlyMap<number, number>,
    limit: number,
    only?: { studentIds: string[]; idempotencyKeys: string[] },
    types?: readonly string[],
  ): Promise<RecordedEvent[]> {
    const parameters: unknown[] = [[...after.keys()], [...after.values()], limit];
    const parameter = (value: unknown) => `$${parameters.push(value)}`;
    const filter =
      (only
        ? `AND (student_id = ANY(${parameter(only.studentIds)}::varchar[]) ` +
          `OR idempotency_key = ANY(${parameter(only.idempotencyKeys)}::varchar[]))`
        : '') + (types ? ` AND type = ANY(${parameter(types)}::varchar[])` : '');
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT e.* FROM unnest($1::int[], $2::int[]) AS p(course_id, after)
         CROSS JOIN LATERAL (SELECT ${COLUMNS} FROM course_events
                              WHERE course_id = p.course_id AND seq > p.after ${filter}
                              ORDER BY seq LIMIT $3) e
        ORDER BY e.course_id, e.seq`,
      parameters,
    );
    return rows.map(recordOf);
  }

  /**
   * A page of the selected events after a number per course (a course without one: from its first
   * event), ordered by course and then sequence, so the next page continues exactly where this one ends.
   */
  async selectedAfter(
    selector: EventSelector,
    after: ReadonlyMap<number, number>,
    limit: number,
  ): Promise<RecordedEvent[]> {
    const [column, value] = selectorColumn(selector);
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS.replace(/(\w+)/g, 'e.$1')} FROM course_events e
         LEFT JOIN unnest($2::int[], $3::int[]) AS p(course_id, after) ON p.course_id = e.course_id
        WHERE e.${column} = $1 AND e.seq > COALESCE(p.after, 0)
        ORDER BY e.course_id, e.seq LIMIT $4`,
      [value, [...after.keys()], [...after.values()], limit],
    );
    return rows.map(recordOf);
  }

  /** The last number of each course that holds selected events: where a live-only reader starts. */
  async selectedHeads(selector: EventSelector): Promise<Map<number, number>> {
    const rows: Array<{ course_id: number; seq: number }> =
      selector.kind === 'course'
        ? await this.dataSource.query(
            `SELECT id AS course_id, events_written AS seq FROM courses WHERE id = $1`,
            [selector.courseId],
          )
        : await this.dataSource.query(
            `SELECT course_id, max(seq) AS seq FROM course_events WHERE ${selectorColumn(selector)[0]} = $1
              GROUP BY course_id`,
            [selectorColumn(selector)[1]],
          );
    return new Map(rows.map((row) => [row.course_id, row.seq]));
  }
}

function selectorColumn(
  selector: EventSelector,
): ['student_id' | 'idempotency_key' | 'course_id', string | number] {
  switch (selector.kind) {
    case 'student':
      return ['student_id', selector.studentId];
    case 'request':
      return ['idempotency_key', selector.idempotencyKey];
    case 'course':
      return ['course_id', selector.courseId];
  }
}

const COLUMNS =
  'course_id, seq, type, idempotency_key, student_id, status, waitlist_position, reason, capacity, at, txid, ' +
  'entries, seed';

interface EventRow {
  course_id: number;
  seq: number;
  type: CourseEventResponse['type'];
  idempotency_key: string | null;
  student_id: string | null;
  status: CourseEventResponse['status'];
  waitlist_position: number | null;
  reason: CourseEventResponse['reason'];
  capacity: number | null;
  at: Date;
  /** bigint, as node-postgres reads it: a string. */
  txid: string | null;
  /** For drawn only. */
  entries: number | null;
  seed: string | null;
}

function recordOf(row: EventRow): RecordedEvent {
  return {
    courseId: row.course_id,
    seq: row.seq,
    atMs: row.at.getTime(),
    body: {
      id: eventId(row.course_id, row.seq),
      type: row.type,
      course_id: row.course_id,
      student_id: row.student_id,
      idempotency_key: row.idempotency_key,
      status: row.status,
      waitlist_position: row.waitlist_position,
      reason: row.reason,
      capacity: row.capacity,
      at: row.at.toISOString(),
      txid: row.txid,
      ...(row.type === 'drawn' ? { entries: row.entries ?? 0, seed: row.seed ?? '' } : {}),
    },
  };
}

/**
 * An event's name, the same wherever it is read (REST, /ws, webhooks): its course and its place in the
 * course's record, which no other event shares and which never changes once committed.
 */
export const eventId = (courseId: number, seq: number): string => `${courseId}-${seq}`;

function eventOf(row: EventRow): CourseEventResponse {
  return withCursor(recordOf(row));
}

/** The event object as a course's reader receives it: its cursor is the course sequence number. */
export function withCursor(event: RecordedEvent): CourseEventResponse {
  return { cursor: String(event.seq), ...event.body };
}
