import pg from 'pg';
import { eventually } from './test-app.js';

/** A direct PostgreSQL connection for asserting on what the service wrote. */
export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

export interface CourseRow {
  capacity: number;
  seats_taken: number;
  waitlist_length: number;
  enrollments: number;
  waitlist_entries: number;
}

/** The course's counters next to the rows they must agree with. */
export async function courseTruth(client: pg.Client, courseId: number): Promise<CourseRow> {
  const { rows } = await client.query(
    `SELECT c.capacity, c.seats_taken, c.waitlist_length,
            (SELECT count(*)::int FROM enrollments e WHERE e.course_id = c.id) AS enrollments,
            (SELECT count(*)::int FROM waitlist_entries w WHERE w.course_id = c.id) AS waitlist_entries
       FROM courses c WHERE c.id = $1`,
    [courseId],
  );
  return rows[0] as CourseRow;
}

/** How many decisions PostgreSQL holds for a key: exactly-once means 1. */
export async function countDecisions(url: string, key: string): Promise<number> {
  const client = await connect(url);
  try {
    const { rows } = await client.query(
      'SELECT count(*)::int AS n FROM decisions WHERE idempotency_key = $1',
      [key],
    );
    return rows[0].n as number;
  } finally {
    await client.end();
  }
}

/** courseTruth over a connection of its own, for tests that need nothing else from the database. */
export async function courseTruthAt(url: string, courseId: number): Promise<CourseRow> {
  const client = await connect(url);
  try {
    return await courseTruth(client, courseId);
  } finally {
    await client.end();
  }
}

/** The backend of the transaction that waits for a course row's lock (held by a test), once it waits. */
export function backendWaitingForCourseLock(client: pg.Client, description: string): Promise<number> {
  return eventually(
    async () => {
      const { rows } = await client.query(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%FROM "courses"%'`,
      );
      return rows[0]?.pid as number | undefined;
    },
    10_000,
    description,
  );
}

/**
 * Appends `count` capacity changes to a fresh course's record in one transaction (its notification
 * included): a record the size a long registration period leaves, written in a second.
 */
export async function writeHistory(url: string, courseId: number, count: number): Promise<void> {
  const client = await connect(url);
  try {
    await client.query(
      `WITH history AS (
         INSERT INTO course_changes (course_id, seq, type, capacity)
         SELECT $1, g, 'capacity_changed', 5 FROM generate_series(1, $2::int) g)
       UPDATE courses SET events_written = $2 WHERE id = $1`,
      [courseId, count],
    );
  } finally {
    await client.end();
  }
}
