import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from './support/db-client.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const run = promisify(execFile);

/** The schema comes from migrations only; these keep the entities, the migrations and the guarantees honest. */
describe('database schema', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('has no difference between the entities and the migrations', async () => {
    // migration:generate --check exits 1 when the entities would need a new migration.
    await expect(
      run(
        'npx',
        [
          'tsx',
          'node_modules/typeorm/cli.js',
          'migration:generate',
          'unused',
          '--check',
          '-d',
          'ormconfig.ts',
        ],
        {
          env: { ...process.env, NODE_OPTIONS: '', DATABASE_URL: database.url },
        },
      ),
    ).resolves.toBeDefined();
  });

  it('refuses more seats taken than capacity, and a second decision for one key, by itself', async () => {
    const db = await connect(database.url);
    try {
      const { rows } = await db.query(
        `INSERT INTO courses (code, title, capacity) VALUES ('DB1', 'x', 1) RETURNING id`,
      );
      const id = rows[0].id as number;
      await expect(db.query('UPDATE courses SET seats_taken = 2 WHERE id = $1', [id])).rejects.toThrow(
        /courses_seats_within_capacity/,
      );
      await expect(db.query('UPDATE courses SET seats_taken = -1 WHERE id = $1', [id])).rejects.toThrow(
        /courses_seats_within_capacity/,
      );
      const decision = `INSERT INTO decisions (idempotency_key, student_id, course_id, priority, status, requested_at, decided_at, decided_as)
                        VALUES ('k1', 's1', $1, 0, 'enrolled', now(), now(), 'enrolled')`;
      await db.query(decision, [id]);
      await expect(db.query(decision, [id])).rejects.toThrow(/duplicate key/);
      await db.query(
        `INSERT INTO enrollments (course_id, student_id, idempotency_key) VALUES ($1, 's1', 'k1')`,
        [id],
      );
      await expect(
        db.query(`INSERT INTO enrollments (course_id, student_id, idempotency_key) VALUES ($1, 's1', 'k2')`, [
          id,
        ]),
      ).rejects.toThrow(/enrollments_course_student_key/);
      await db.query(
        `INSERT INTO waitlist_entries (course_id, student_id, idempotency_key, position) VALUES ($1, 's2', 'k3', 1)`,
        [id],
      );
      await expect(
        db.query(
          `INSERT INTO waitlist_entries (course_id, student_id, idempotency_key, position) VALUES ($1, 's2', 'k4', 2)`,
          [id],
        ),
      ).rejects.toThrow(/waitlist_entries_course_student_key/);
    } finally {
      await db.end();
    }
  });
});
