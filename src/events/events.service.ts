import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { CourseEventResponse } from './dto/course-event.response.js';

/**
 * The read side of the record (the view course_events: each request's decision row, then the course's
 * later changes). A course's events are read by their course sequence number, which is also their commit
 * order (handed out under the course row lock), so the cursor is that number: resuming after it yields
 * every later event once, and an event can never commit behind a reader's cursor.
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
}

const COLUMNS =
  'course_id, seq, type, idempotency_key, student_id, status, waitlist_position, reason, capacity, at';

interface EventRow {
  course_id: number;
  seq: number;
  type: CourseEventResponse['type'];
  idempotency_key: string | null;
  student_id: string | null;
  status: string | null;
  waitlist_position: number | null;
  reason: string | null;
  capacity: number | null;
  at: Date;
}

function eventOf(row: EventRow): CourseEventResponse {
  return {
    cursor: String(row.seq),
    type: row.type,
    course_id: row.course_id,
    student_id: row.student_id,
    idempotency_key: row.idempotency_key,
    status: row.status,
    waitlist_position: row.waitlist_position,
    reason: row.reason,
    capacity: row.capacity,
    at: row.at.toISOString(),
  };
}
