import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { useWorld } from './support/test-app.js';

const run = promisify(execFile);

interface LintCount {
  errors: number;
  warnings: number;
  problems: string[];
}

/** Redocly's recommended rules (redocly.yaml says which ones are off for us, and why). */
async function redocly(file: string): Promise<LintCount> {
  // Exits 1 when it finds an error; the JSON report is on stdout either way.
  const { stdout } = await run(
    'npx',
    ['redocly', 'lint', '--extends', 'recommended', '--format', 'json', file],
    { env: { ...process.env, NODE_OPTIONS: '', REDOCLY_TELEMETRY: 'off' } },
  ).catch((failed: { stdout?: string }) => ({ stdout: failed.stdout ?? '' }));
  const report = JSON.parse(stdout) as {
    totals: { errors: number; warnings: number };
    problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
  };
  return {
    errors: report.totals.errors,
    warnings: report.totals.warnings,
    problems: report.problems.map(
      (problem) =>
        `${problem.severity} ${problem.ruleId} ${problem.location[0]?.pointer ?? ''}: ${problem.message}`,
    ),
  };
}

/** Spectral's spectral:oas ruleset (.spectral.yaml). Severity 0 is an error, 1 a warning. */
async function spectral(file: string): Promise<LintCount> {
  const { stdout } = await run('npx', ['spectral', 'lint', '--format', 'json', '--quiet', file], {
    env: { ...process.env, NODE_OPTIONS: '' },
  }).catch((failed: { stdout?: string }) => ({ stdout: failed.stdout ?? '' }));
  const results = JSON.parse(stdout) as { code: string; severity: number; message: string; path: string[] }[];
  return {
    errors: results.filter(({ severity }) => severity === 0).length,
    warnings: results.filter(({ severity }) => severity === 1).length,
    problems: results.map(
      (result) => `${result.severity} ${result.code} ${result.path.join('.')}: ${result.message}`,
    ),
  };
}

describe('the OpenAPI document at /docs-json', () => {
  const ctx = useWorld();
  let dir: string;
  let file: string;
  let document: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'courseflow-openapi-'));
    file = path.join(dir, 'openapi.json');
    document = await (await fetch(`${ctx.baseUrl}/docs-json`)).text();
    writeFileSync(file, document);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes Redocly's recommended rules and Spectral's spectral:oas without an error or a warning", async () => {
    const [redoclyCount, spectralCount] = await Promise.all([redocly(file), spectral(file)]);
    console.log(
      `OpenAPI lint: Redocly (recommended) ${redoclyCount.errors} errors, ${redoclyCount.warnings} warnings; ` +
        `Spectral (spectral:oas) ${spectralCount.errors} errors, ${spectralCount.warnings} warnings\n` +
        [...redoclyCount.problems, ...spectralCount.problems].join('\n'),
    );
    expect(redoclyCount.problems).toEqual([]);
    expect(spectralCount.problems).toEqual([]);
  }, 120_000);

  it("prefills POST /enroll in Swagger UI with the README's own example, so trying it after the curl is a replay", () => {
    // Swagger UI builds the body from each property's example.
    const properties = JSON.parse(document).components.schemas.EnrollRequestDto.properties as Record<
      string,
      { example: unknown }
    >;
    const prefilled = Object.fromEntries(
      Object.entries(properties).map(([name, property]) => [name, property.example]),
    );
    const readme = readFileSync(path.join(process.cwd(), 'README.md'), 'utf8');
    const curl = /POST localhost:8000\/enroll[^\n]*\n\s*-d '([^']+)'/.exec(readme);
    expect(curl).not.toBeNull();
    expect(prefilled).toEqual(JSON.parse(curl![1]));
  });

  it('gives a generated client what it needs: names, tags, examples, error bodies, retry hints', () => {
    const doc = JSON.parse(document);
    const tags = new Map(
      doc.tags.map((tag: { name: string; description: string }) => [tag.name, tag.description]),
    );
    const problems: string[] = [];
    for (const [template, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(item)) {
        const where = `${method.toUpperCase()} ${template}`;
        if (!/^[a-z][A-Za-z]+$/.test(operation.operationId ?? '')) problems.push(`${where}: operationId`);
        if (!operation.summary || !operation.description) problems.push(`${where}: summary or description`);
        if (!operation.security) problems.push(`${where}: security unsaid`);
        for (const tag of operation.tags ?? []) if (!tags.get(tag)) problems.push(`${where}: tag ${tag}`);
        for (const parameter of operation.parameters ?? []) {
          if (parameter.in === 'path' && parameter.schema?.example === undefined) {
            problems.push(`${where}: no example for {${parameter.name}}`);
          }
        }
        for (const [status, response] of Object.entries<any>(operation.responses)) {
          if (Number(status) < 400) continue;
          const json = response.content?.['application/json'];
          if (!json?.schema || json.example === undefined)
            problems.push(`${where} ${status}: schema or example`);
          if (['429', '503'].includes(status) && !response.headers?.['Retry-After']) {
            problems.push(`${where} ${status}: no Retry-After`);
          }
        }
      }
    }
    for (const [name, scheme] of Object.entries<any>(doc.components.securitySchemes)) {
      if (scheme.bearerFormat) problems.push(`security scheme ${name}: bearerFormat ${scheme.bearerFormat}`);
    }
    expect(problems).toEqual([]);
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
  });
});
