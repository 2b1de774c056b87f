import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ADMIN_DATABASE_URL, databaseUrl, withClient } from '../../scripts/kit.mjs';

/** Set by global-setup.mjs, which migrates it once per run. */
const templateDatabase = (): string => {
  const name = process.env.COURSEFLOW_TEST_TEMPLATE;
  if (!name) throw new Error('COURSEFLOW_TEST_TEMPLATE is not set: run the tests through jest (globalSetup)');
  return name;
};

/** Work on a connection to the admin database, where test databases are created and dropped. */
export function withAdminClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withClient(ADMIN_DATABASE_URL, work);
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database with the schema already migrated (CREATE DATABASE … TEMPLATE, milliseconds), or, with
 * `empty`, one with no schema at all.
 */
export async function createTestDatabase({ empty = false } = {}): Promise<TestDatabase> {
  const name = `courseflow_test_${randomBytes(5).toString('hex')}`;
  const template = empty ? '' : ` TEMPLATE ${templateDatabase()}`;
  await withAdminClient((client) => client.query(`CREATE DATABASE ${name}${template}`));
  return {
    name,
    url: databaseUrl(name),
    drop: () =>
      withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}
