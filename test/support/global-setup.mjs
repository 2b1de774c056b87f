// Migrates a template database once per test run; every test file copies it (CREATE DATABASE … TEMPLATE).
// Plain JavaScript because Jest loads globalSetup outside its module mapping. The migrations run through
// the TypeORM CLI and ormconfig.ts, exactly as `npm run migration:run` does.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ADMIN_DATABASE_URL, databaseUrl, withClient } from '../../scripts/kit.mjs';
import { writeEsmCopies } from './esm-copy.mjs';

// One template per test run, so two runs on one server never pull the template from under each other.
const TEMPLATE_DATABASE = `courseflow_test_template_${process.pid}`;

export default async function globalSetup() {
  writeEsmCopies();
  // Jest starts its workers after this, so they inherit the name.
  process.env.COURSEFLOW_TEST_TEMPLATE = TEMPLATE_DATABASE;
  // Each test file appends how many responses it checked against the OpenAPI document (test-app.ts).
  process.env.COURSEFLOW_OPENAPI_REPORT = path.join(tmpdir(), `courseflow-openapi-${process.pid}.jsonl`);
  rmSync(process.env.COURSEFLOW_OPENAPI_REPORT, { force: true });
  await withClient(ADMIN_DATABASE_URL, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  });
  execFileSync('npx', ['tsx', 'node_modules/typeorm/cli.js', 'migration:run', '-d', 'ormconfig.ts'], {
    env: { ...process.env, NODE_OPTIONS: '', DATABASE_URL: databaseUrl(TEMPLATE_DATABASE) },
    stdio: 'pipe',
  });
}
