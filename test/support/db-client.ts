import pg from 'pg';

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
