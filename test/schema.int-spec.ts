import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from './support/db-client.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const run = promisify(execFile);

/** The built service with ROLE=migrate against a database: its exit code and its JSON log lines. */
async function migrate(
  databaseUrl: string,
): Promise<{ code: number; lines: Array<Record<string, unknown>> }> {
  const outcome = await run(process.execPath, ['dist/main.js'], {
    env: { ...process.env, NODE_OPTIONS: '', ROLE: 'migrate', DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' },
    timeout: 60_000,
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
  const lines = outcome.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { code: outcome.code, lines };
}

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

  describe("ROLE=migrate (a deployment's migration job)", () => {
    let empty: TestDatabase;
    beforeEach(async () => {
      empty = await createTestDatabase({ empty: true });
    });
    afterEach(async () => {
      await empty.drop();
    });

    it('builds the schema of an empty database and exits 0; run again, it has nothing to apply', async () => {
      const first = await migrate(empty.url);
      expect(first.code).toBe(0);
      const applied = first.lines.find((line) => line.msg === 'migrations applied');
      expect(applied?.count).toBeGreaterThan(0);

      const client = await connect(empty.url);
      const { rows } = await client.query('SELECT count(*)::int AS n FROM migrations');
      const tables = await client.query("SELECT to_regclass('public.decisions') IS NOT NULL AS present");
      await client.end();
      expect(rows[0].n).toBe(applied?.count);
      expect(tables.rows[0].present).toBe(true);

      const again = await migrate(empty.url);
      expect(again.code).toBe(0);
      expect(again.lines.find((line) => line.msg === 'migrations applied')?.count).toBe(0);
    }, 90_000);

    it('applies none and exits 1 when a migration fails', async () => {
      // A table the first migration creates is there already: that migration fails.
      const client = await connect(empty.url);
      await client.query('CREATE TABLE courses (id int)');
      const failed = await migrate(empty.url);
      const { rows } = await client.query("SELECT to_regclass('public.migrations') IS NOT NULL AS present");
      const counted = rows[0].present
        ? (await client.query('SELECT count(*)::int AS n FROM migrations')).rows[0].n
        : 0;
      await client.end();
      expect(failed.code).toBe(1);
      expect(failed.lines.some((line) => line.msg === 'migrations failed, none applied')).toBe(true);
      expect(counted).toBe(0);
    }, 90_000);
  });
});
