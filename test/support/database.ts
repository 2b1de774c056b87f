import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Where tests may create and drop databases; every test file gets its own copy of the template. */
export const ADMIN_DATABASE_URL =
  process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** Set by global-setup.mjs, which migrates it once per run. */
const templateDatabase = (): string => {
  const name = process.env.COURSEFLOW_TEST_TEMPLATE;
  if (!name) throw new Error('COURSEFLOW_TEST_TEMPLATE is not set: run the tests through jest (globalSetup)');
  return name;
};

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withAdminClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh database with the schema already migrated (CREATE DATABASE … TEMPLATE, milliseconds). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `courseflow_test_${randomBytes(5).toString('hex')}`;
  await withAdminClient((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${templateDatabase()}`));
  return {
    name,
    url: databaseUrl(name),
    drop: () =>
      withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}
