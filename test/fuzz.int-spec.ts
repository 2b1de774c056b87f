import fc from 'fast-check';
import { Redis } from 'ioredis';
import { REDIS } from '../scripts/kit.mjs';
import { acceptedCountsKey } from '../src/redis/redis-keys.js';
import { connect } from './support/db-client.js';
import { asAdmin, asClient, eventually, newCourse, useWorld } from './support/test-app.js';

/** Per CI run: the issue asks for at least 10,000 generated requests against the real service. */
const RUNS = { enrollBodies: 5000, rawBodies: 1000, headers: 1000, paths: 2000, courseBodies: 1000 };

interface Answer {
  status: number;
  body: unknown;
}

/** One request as a client sends it (no keep-alive, so a refused body never poisons the next request). */
async function send(
  baseUrl: string,
  method: string,
  path: string,
  body: string | undefined,
  headers: Record<string, string>,
): Promise<Answer> {
  const response = await fetch(baseUrl + path, {
    method,
    headers: { connection: 'close', ...headers },
    body,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: the check below says so
  }
  return { status: response.status, body: parsed };
}

/** What every answer must be: never a 5xx, and an error always in the documented shape. */
function problemWith(answer: Answer): string | null {
  if (answer.status >= 500) return `answered ${answer.status}: ${JSON.stringify(answer.body)}`;
  if (answer.status < 400) return null;
  const body = answer.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') return `error ${answer.status} without a JSON body: ${String(body)}`;
  if (body.statusCode !== answer.status) return `statusCode ${String(body.statusCode)} for ${answer.status}`;
  if (typeof body.error !== 'string' || body.error === 'Error') return `error field ${String(body.error)}`;
  if (typeof body.message !== 'string') return `message is not a string: ${JSON.stringify(body.message)}`;
  if (body.details !== undefined) {
    // docs/guarantees.md §9: an array of strings, one per offending field.
    const fine = Array.isArray(body.details) && body.details.every((d: unknown) => typeof d === 'string');
    if (!fine) return `details not a list of strings: ${JSON.stringify(body.details)}`;
  }
  return null;
}

const printable = fc.string({
  unit: fc.constantFrom(...' !"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~'.split('')),
});
/** Strings a client might send: ordinary, empty, huge, with NUL and control characters, non-ASCII. */
const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  printable,
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '%00', '../..', 'x'.repeat(200), '💥', '\n'),
);
const anyNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 2_147_483_647, 2_147_483_648, -2_147_483_649, 1e20, Number.MAX_SAFE_INTEGER),
);
/** Path segments: ids of every shape, including what PostgreSQL's int4 and text types refuse. */
const pathSegment = fc.oneof(
  anyString.filter((s) => s.length > 0),
  fc.constantFrom('1', '0', '-1', '1e3', '0x10', '2147483647', '2147483648', '-2147483649', '99999999999'),
  fc.nat().map(String),
);

describe('fuzzing the API (fast-check, the real service, PostgreSQL and Redis)', () => {
  const ctx = useWorld({ appEnv: { ROLE: 'all' } });
  let redis: Redis;
  let courseId: number;
  let accepted = 0;
  let coursesCreated = 0;
  /** How many generated requests got each status, printed at the end (the counts the note quotes). */
  const statuses = new Map<number, number>();

  beforeAll(async () => {
    redis = new Redis(REDIS);
    courseId = await newCourse(ctx.baseUrl, 100_000);
  });

  afterAll(async () => {
    redis?.disconnect();
  });

  const check = async (
    method: string,
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
  ) => {
    const answer = await send(ctx.baseUrl, method, path, body, headers);
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    const problem = problemWith(answer);
    if (problem) throw new Error(`${method} ${path} ${body ?? ''} → ${problem}`);
    return answer;
  };

  it(`answers ${RUNS.enrollBodies} generated POST /enroll bodies without a 5xx`, async () => {
    // Each field valid or not; unknown fields, prototype keys and nesting mixed in.
    const field = <T>(valid: fc.Arbitrary<T>) =>
      fc.option(fc.oneof({ weight: 3, arbitrary: valid }, anyString, anyNumber, fc.jsonValue()), {
        nil: undefined,
      });
    let counter = 0;
    const body = fc.record(
      {
        student_id: field(fc.constantFrom('s-1', 's-2', 'fuzz.student_9')),
        course_id: field(fc.constant(0).map(() => courseId)),
        priority: field(fc.integer({ min: 0, max: 100 })),
        idempotency_key: field(fc.constant('').map(() => `fuzz-${counter++}`)),
        extra: fc.option(
          fc.dictionary(fc.oneof(anyString, fc.constantFrom('__proto__', 'constructor')), fc.jsonValue()),
          {
            nil: undefined,
          },
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(body, async ({ extra, ...fields }) => {
        const json = JSON.stringify({ ...fields, ...(extra ?? {}) });
        const answer = await check('POST', '/enroll', json, {
          ...asClient,
          'content-type': 'application/json',
        });
        if (answer.status === 202) accepted += 1;
      }),
      { numRuns: RUNS.enrollBodies },
    );
  }, 300_000);

  it(`answers ${RUNS.rawBodies} raw bodies (not JSON, deep, huge, wrong type) without a 5xx`, async () => {
    const deep = fc
      .integer({ min: 1, max: 3000 })
      .map((levels) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);
    const raw = fc.oneof(
      anyString,
      deep,
      fc.integer({ min: 1, max: 3000 }).map((levels) => `${'['.repeat(levels)}${']'.repeat(levels)}`),
      fc
        .integer({ min: 15_000, max: 80_000 })
        .map((size) => JSON.stringify({ student_id: 'x'.repeat(size) })),
      fc.jsonValue().map((value) => JSON.stringify(value)),
    );
    const contentType = fc.constantFrom(
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=utf-16',
      'multipart/form-data',
    );
    await fc.assert(
      fc.asyncProperty(raw, contentType, async (body, type) => {
        const answer = await check('POST', '/enroll', body, { ...asClient, 'content-type': type });
        if (answer.status === 202) accepted += 1;
      }),
      { numRuns: RUNS.rawBodies },
    );
  }, 300_000);

  it(`answers ${RUNS.headers} generated Idempotency-Key headers without a 5xx`, async () => {
    let counter = 0;
    await fc.assert(
      fc.asyncProperty(printable, fc.boolean(), async (key, withBodyKey) => {
        const body: Record<string, unknown> = { student_id: `h-${counter++}`, course_id: courseId };
        if (withBodyKey) body.idempotency_key = `hdr-${counter}`;
        const answer = await check('POST', '/enroll', JSON.stringify(body), {
          ...asClient,
          'content-type': 'application/json',
          'idempotency-key': key,
        });
        if (answer.status === 202) accepted += 1;
      }),
      { numRuns: RUNS.headers },
    );
  }, 300_000);

  it(`answers ${RUNS.paths} generated path parameters without a 5xx`, async () => {
    const route = fc.constantFrom(
      (p: string) => ['GET', `/courses/${p}`, asAdmin] as const,
      (p: string) => ['GET', `/courses/${p}/events`, asAdmin] as const,
      (p: string) => ['GET', `/enrollments/${p}`, asClient] as const,
      (p: string) => ['GET', `/enrollments/${p}/events`, asClient] as const,
      (p: string) => ['DELETE', `/enrollments/${p}`, asClient] as const,
      (p: string) => ['GET', `/students/${p}/requests`, asClient] as const,
      (p: string) => ['POST', `/admin/dead-letters/${p}/reject`, asAdmin] as const,
      (p: string) => ['GET', `/courses/${courseId}/events?after=${p}&limit=${p}`, asAdmin] as const,
    );
    await fc.assert(
      fc.asyncProperty(route, pathSegment, async (at, segment) => {
        const [method, path, headers] = at(encodeURIComponent(segment));
        await check(method, path, undefined, { ...headers });
      }),
      { numRuns: RUNS.paths },
    );
  }, 300_000);

  it(`answers ${RUNS.courseBodies} generated POST and PATCH /courses bodies without a 5xx`, async () => {
    const field = <T>(valid: fc.Arbitrary<T>) =>
      fc.option(fc.oneof({ weight: 2, arbitrary: valid }, anyString, anyNumber), { nil: undefined });
    let counter = 0;
    const body = fc.record(
      {
        code: field(fc.constant('').map(() => `FZ${counter++}`)),
        title: field(fc.constantFrom('Fuzzing', ' Fuzzing ')),
        capacity: field(fc.integer({ min: 0, max: 100_000 })),
        opens_at: field(fc.constantFrom('2026-12-01T09:00:00Z', null)),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (fields, create) => {
        const json = JSON.stringify(fields);
        const headers = { ...asAdmin, 'content-type': 'application/json' };
        const answer = create
          ? await check('POST', '/courses', json, headers)
          : await check(
              'PATCH',
              `/courses/${courseId}`,
              JSON.stringify({ ...fields, code: undefined }),
              headers,
            );
        if (create && answer.status === 201) coursesCreated += 1;
      }),
      { numRuns: RUNS.courseBodies },
    );
  }, 300_000);

  it('wrote a claim, a job and a decision for each 202, and a course for each 201: nothing for what it refused', async () => {
    let claimed = 0;
    for (let partition = 0; partition < 4; partition += 1) {
      const counts = await redis.hgetall(acceptedCountsKey(ctx.world.queuePrefix, partition));
      claimed += Object.values(counts).reduce((sum, n) => sum + Number(n), 0);
    }
    expect(claimed).toBe(accepted);
    const db = await connect(ctx.world.database.url);
    try {
      await eventually(
        async () => {
          const { rows } = await db.query('SELECT count(*)::int AS n FROM decisions');
          return rows[0].n === accepted ? true : undefined;
        },
        60_000,
        `${accepted} decisions`,
      );
      const { rows } = await db.query('SELECT count(*)::int AS n FROM courses');
      expect(rows[0].n).toBe(coursesCreated + 1);
      const sent = [...statuses.values()].reduce((sum, count) => sum + count, 0);
      const byStatus = [...statuses.entries()]
        .sort(([a], [b]) => a - b)
        .map(([status, n]) => `${status} ×${n}`);
      console.log(
        `fuzz: ${sent} generated requests, no 5xx: ${byStatus.join(', ')}; ` +
          `${claimed} claims and ${accepted} decisions for ${accepted} 202s, ${coursesCreated} courses for ${coursesCreated} 201s`,
      );
    } finally {
      await db.end();
    }
  }, 90_000);
});
