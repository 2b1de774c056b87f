// Drops the run's template database (see global-setup.mjs).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { ADMIN_DATABASE_URL, withClient } from '../../scripts/kit.mjs';

export default async function globalTeardown() {
  reportOpenApiConformance();
  const name = process.env.COURSEFLOW_TEST_TEMPLATE;
  if (!name) return;
  await withClient(ADMIN_DATABASE_URL, (client) =>
    client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  );
}

/** The sum of what each test file checked against the OpenAPI document (see test/support/openapi-conformance.ts). */
function reportOpenApiConformance() {
  const report = process.env.COURSEFLOW_OPENAPI_REPORT;
  if (!report || !existsSync(report)) return;
  const files = readFileSync(report, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
  const sum = (key) => files.reduce((total, file) => total + file[key], 0);
  console.log(
    `\nOpenAPI conformance: ${sum('checked')} responses of ${files.length} test files checked against ` +
      `/docs-json; ${sum('violations')} violations`,
  );
  rmSync(report, { force: true });
}
