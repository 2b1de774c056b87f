// Drops the run's template database (see global-setup.mjs).
import { ADMIN_DATABASE_URL, withClient } from '../../scripts/kit.mjs';

export default async function globalTeardown() {
  const name = process.env.COURSEFLOW_TEST_TEMPLATE;
  if (!name) return;
  await withClient(ADMIN_DATABASE_URL, (client) =>
    client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  );
}
