// Drops the run's template database (see global-setup.mjs).
import pg from 'pg';

export default async function globalTeardown() {
  const name = process.env.COURSEFLOW_TEST_TEMPLATE;
  if (!name) return;
  const client = new pg.Client({
    connectionString: process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
