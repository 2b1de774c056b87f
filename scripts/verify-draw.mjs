// npm run verify-draw -- <base-url> <course-id>: anyone (a student, an auditor) checks a course's opening draw
// against a CourseFlow server through its public API alone (contract v3, Fair opening): the revealed seed
// against the hash published before the draw, the published order against the order recomputed from the seed
// and the entries' public requests, and the entries' decisions against that order.
// Dependency-free on purpose: Node 20's built-ins and global fetch, so it runs from a bare copy of this file.
import { createHash, createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = `Usage: npm run verify-draw -- <base-url> <course-id> [--concurrency N] [--token T]
       node scripts/verify-draw.mjs <base-url> <course-id> [--concurrency N] [--token T]

Verifies a course's opening draw on a CourseFlow server: the revealed seed against its published
SHA-256, the published order against the order recomputed from the seed and every entry's public
request, and each entry's decision against that order.

  <base-url>        the server, e.g. https://courseflow.example.edu
  <course-id>       the course whose draw to verify
  --concurrency N   requests in flight at once (1..256, default 16)
  --token T         sent as "Authorization: Bearer T" (default: the CLIENT_TOKEN environment variable)
  -h, --help        this text

Exit status: 0 every check passes; 1 a check fails, or the draw is not made yet; 2 usage or network error.`;

/** The decisions a request's record starts with (contract: exactly one outcome per accepted request). */
const DECISIONS = new Set(['enrolled', 'waitlisted', 'rejected', 'cancelled']);
/** The event types a request's record may hold; others are a later version's, which a client ignores. */
const REQUEST_EVENTS = new Set([...DECISIONS, 'promoted', 'dropped', 'offered', 'offer_expired']);

/** Lowercase hex SHA-256 of a text's UTF-8 bytes: what seed_sha256 publishes before the draw. */
export const sha256Hex = (text) => createHash('sha256').update(text, 'utf8').digest('hex');

/** An entry's lottery ticket: lowercase hex HMAC-SHA256(key = seed, message = "<course_id>:<student_id>"). */
export const ticketOf = (seed, courseId, studentId) =>
  createHmac('sha256', seed).update(`${courseId}:${studentId}`, 'utf8').digest('hex');

/**
 * The draw order recomputed from public data: priority descending, then the ticket ascending, then acceptance
 * order, for which the requests' requested_at stands in. `requests` come in the published order, and where
 * two entries tie on all three (one student's two keys sent in the same millisecond) that order is kept and
 * counted as a tie. Returns the idempotency keys in draw order and the number of such ties.
 */
export function recomputeOrder(seed, courseId, requests) {
  const ranked = requests
    .map((request, published) => ({
      key: request.idempotency_key,
      priority: request.priority,
      ticket: ticketOf(seed, courseId, request.student_id),
      accepted: Date.parse(request.requested_at),
      published,
    }))
    .sort((a, b) => compareEntries(a, b) || a.published - b.published);
  const ties = ranked.filter((entry, i) => i > 0 && compareEntries(ranked[i - 1], entry) === 0).length;
  return { order: ranked.map((entry) => entry.key), ties };
}

function compareEntries(a, b) {
  return (
    b.priority - a.priority ||
    (a.ticket < b.ticket ? -1 : a.ticket > b.ticket ? 1 : 0) ||
    a.accepted - b.accepted
  );
}

/** The first place (1-based) where two orders differ, with the key each has there; null when they are equal. */
export function firstMismatch(published, recomputed) {
  const length = Math.max(published.length, recomputed.length);
  for (let i = 0; i < length; i += 1) {
    if (published[i] !== recomputed[i]) {
      return { place: i + 1, published: published[i] ?? null, recomputed: recomputed[i] ?? null };
    }
  }
  return null;
}

/** A request's decision: the first event of its record (events of types this version does not know skipped). */
export const decisionOf = (events) => events.find((event) => REQUEST_EVENTS.has(event.type)) ?? null;

/**
 * Checks the entries' decisions against the draw order. `entries` are `{ request, decision }` in draw order,
 * `decision` the first event of the request's record. Returns the problems found (empty: the decisions
 * follow the order):
 * (a) no entry is enrolled after an entry that was waitlisted (that seat belonged to the earlier entry);
 * (b) the waitlisted entries' positions strictly increase in draw order;
 * (c) once a student holds an entry (enrolled or waitlisted), each later entry of theirs is rejected
 *     `already_*`.
 * A cancelled entry (withdrawn) and an entry rejected for any reason (a schedule limit, a swap gone...) may
 * stand anywhere.
 */
export function checkDecisions(entries) {
  const problems = [];
  let firstWaitlisted = null;
  let lastWaitlisted = null;
  const holders = new Map();
  entries.forEach(({ request, decision }, index) => {
    const key = request.idempotency_key;
    const at = `${key} (place ${index + 1})`;
    if (!decision) return problems.push(`${at} has no decision on its record`);
    if (!DECISIONS.has(decision.type)) {
      return problems.push(`${at}: its record starts with ${decision.type}, not a decision`);
    }
    const holder = holders.get(request.student_id);
    if (holder && decision.type !== 'cancelled') {
      if (decision.type !== 'rejected' || !String(decision.reason ?? '').startsWith('already_')) {
        const outcome = decision.type === 'rejected' ? `rejected ${decision.reason}` : decision.type;
        problems.push(
          `${at} was ${outcome}, but student ${request.student_id} already held ${holder}: expected rejected already_*`,
        );
      }
    }
    if (decision.type === 'enrolled' && firstWaitlisted) {
      problems.push(`${at} was enrolled after ${firstWaitlisted} was waitlisted`);
    }
    if (decision.type === 'waitlisted') {
      const position = decision.waitlist_position;
      if (lastWaitlisted && !(position > lastWaitlisted.position)) {
        problems.push(
          `${at} was waitlisted at position ${position}, after ${lastWaitlisted.at} at position ${lastWaitlisted.position}`,
        );
      }
      lastWaitlisted = { at, position };
      firstWaitlisted ??= at;
    }
    if ((decision.type === 'enrolled' || decision.type === 'waitlisted') && !holder) {
      holders.set(request.student_id, at);
    }
  });
  return problems;
}

/** The first few problems of a check, and how many more there are. */
function listed(problems, shown = 3) {
  const more = problems.length > shown ? `; and ${problems.length - shown} more` : '';
  return problems.slice(0, shown).join('; ') + more;
}

/**
 * Checks a drawn course's draw (checks 2 to 6) from what the server published: `draw` as GET
 * /courses/:id/draw answers it; `requests` and `events` map each key of `draw.order` to its request object
 * and its record's events (null: the server does not know the key). Pure: returns
 * `{ checks: [{ ok, text }], summary }`, the summary null when some entry could not be read.
 */
export function verifyDraw({ draw, requests, events }) {
  const checks = [];
  const check = (ok, text) => checks.push({ ok, text });
  const courseId = draw.course_id;
  const seed = typeof draw.seed === 'string' ? draw.seed : null;

  // 2. The seed revealed is the one committed to before the draw.
  if (seed === null) check(false, 'seed: not revealed although the draw is made');
  else {
    const digest = sha256Hex(seed);
    check(
      digest === draw.seed_sha256,
      digest === draw.seed_sha256
        ? `seed: SHA-256 of the revealed seed equals the published seed_sha256 ${draw.seed_sha256}`
        : `seed: SHA-256 of the revealed seed is ${digest}, but the published seed_sha256 is ${draw.seed_sha256}`,
    );
  }

  // 3. The order lists each entry once.
  const order = Array.isArray(draw.order) ? draw.order : [];
  const keys = [...new Set(order)];
  const twice = order.filter((key, i) => order.indexOf(key) !== i);
  const countProblems = [
    ...(Array.isArray(draw.order) ? [] : ['the order is not a list']),
    ...(draw.entries === order.length
      ? []
      : [`entries is ${draw.entries}, but the order lists ${order.length}`]),
    ...twice.map((key) => `${key} is listed twice`),
  ];
  check(
    countProblems.length === 0,
    countProblems.length === 0
      ? `entries: ${order.length}, the length of the order, no key twice`
      : `entries: ${listed(countProblems)}`,
  );

  // 4. Every entry is a request of this course, ranked at its place, and decided.
  const requestProblems = [];
  for (const key of keys) {
    const request = requests.get(key);
    if (!request) {
      requestProblems.push(`${key} is unknown to the server`);
      continue;
    }
    if (String(request.course_id) !== String(courseId)) {
      requestProblems.push(`${key} is a request for course ${request.course_id}`);
    }
    const place = order.indexOf(key) + 1;
    if (request.draw_rank !== place) {
      requestProblems.push(`${key} has draw_rank ${request.draw_rank}, but place ${place} in the order`);
    }
    if (request.status === 'queued') requestProblems.push(`${key} is still queued`);
  }
  check(
    requestProblems.length === 0,
    requestProblems.length === 0
      ? `requests: all ${keys.length} read, each of course ${courseId}, draw_rank = its place, none still queued`
      : `requests: ${listed(requestProblems)}`,
  );

  const missing = keys.filter((key) => !requests.get(key));
  const entries = missing.length === 0 ? keys.map((key) => requests.get(key)) : null;

  // 5. The published order is the one the seed and the public requests give.
  let ties = 0;
  if (seed === null || !entries) {
    check(
      false,
      `order: cannot be recomputed (${seed === null ? 'no seed' : `${missing.length} entries unread`})`,
    );
  } else {
    const recomputed = recomputeOrder(seed, courseId, entries);
    ties = recomputed.ties;
    const mismatch = firstMismatch(keys, recomputed.order);
    const tied = ties === 0 ? 'no ties' : `${ties} tie${ties === 1 ? '' : 's'} kept in the published order`;
    if (!mismatch) {
      check(true, `order: recomputed from the seed, it equals the published order (${tied})`);
    } else {
      const describe = (key) => {
        const request = requests.get(key);
        return `${key}: priority ${request.priority}, ticket ${ticketOf(seed, courseId, request.student_id).slice(0, 12)}…, requested_at ${request.requested_at}`;
      };
      check(
        false,
        `order: place ${mismatch.place} holds ${mismatch.published} in the published order, but ${mismatch.recomputed} ` +
          `in the recomputed one (${describe(mismatch.recomputed)}; ${describe(mismatch.published)})`,
      );
    }
  }

  // 6. The decisions follow the order.
  let decided = null;
  const unread = keys.filter((key) => !events.get(key));
  if (!entries || unread.length > 0) {
    check(false, `decisions: cannot be checked (${(entries ? unread : missing).length} records unread)`);
  } else {
    decided = keys.map((key) => ({ request: requests.get(key), decision: decisionOf(events.get(key)) }));
    const problems = checkDecisions(decided);
    check(
      problems.length === 0,
      problems.length === 0
        ? 'decisions: no enrollment after a waitlisting, waitlist positions rising, later keys of a student rejected already_*'
        : `decisions: ${listed(problems)}`,
    );
  }

  return { checks, summary: decided ? summarize(decided, ties, seed) : null };
}

/** What the draw came to: its entries' decisions, the ties and the seed. */
function summarize(decided, ties, seed) {
  const count = (type) => decided.filter(({ decision }) => decision?.type === type).length;
  const reasons = new Map();
  for (const { decision } of decided) {
    if (decision?.type === 'rejected') reasons.set(decision.reason, (reasons.get(decision.reason) ?? 0) + 1);
  }
  return {
    entries: decided.length,
    enrolled: count('enrolled'),
    waitlisted: count('waitlisted'),
    rejected: Object.fromEntries([...reasons].sort(([a], [b]) => String(a).localeCompare(String(b)))),
    cancelled: count('cancelled'),
    ties,
    seed,
  };
}

function formatSummary(summary) {
  const rejected = Object.entries(summary.rejected);
  const total = rejected.reduce((sum, [, n]) => sum + n, 0);
  const reasons = rejected.length ? ` (${rejected.map(([reason, n]) => `${reason} ${n}`).join(', ')})` : '';
  return [
    `summary: ${summary.entries} entries decided: ${summary.enrolled} enrolled, ${summary.waitlisted} waitlisted, ` +
      `${total} rejected${reasons}, ${summary.cancelled} cancelled; ${summary.ties} tie${summary.ties === 1 ? '' : 's'}`,
    `seed: ${summary.seed}`,
  ];
}

/** A usage or network problem: the verification could not run (exit 2). */
class Unverifiable extends Error {}

/** GETs a JSON document: 429 waits Retry-After, 5xx and network errors are retried with backoff. 404 → null. */
async function getJson(base, path, token) {
  const url = `${base}${path}`;
  const headers = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  let failures = 0;
  let throttled = 0;
  for (;;) {
    let response;
    try {
      response = await fetch(url, { headers, signal: AbortSignal.timeout(15_000) });
    } catch (error) {
      failures += 1;
      if (failures > 4) throw new Unverifiable(`GET ${url}: ${error.cause?.message ?? error.message}`);
      await sleep(250 * 2 ** failures);
      continue;
    }
    if (response.status === 429 && throttled < 30) {
      throttled += 1;
      await response.body?.cancel();
      const seconds = Number(response.headers.get('retry-after'));
      await sleep(Math.min(Number.isFinite(seconds) && seconds >= 0 ? seconds : 1, 60) * 1000);
      continue;
    }
    if (response.status >= 500 && failures < 4) {
      failures += 1;
      await response.body?.cancel();
      await sleep(250 * 2 ** failures);
      continue;
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (response.status !== 200) {
      const text = (await response.text().catch(() => '')).slice(0, 200);
      const hint = response.status === 401 ? ' (set CLIENT_TOKEN or --token)' : '';
      throw new Unverifiable(`GET ${url}: ${response.status}${hint} ${text}`.trim());
    }
    try {
      return await response.json();
    } catch {
      throw new Unverifiable(`GET ${url}: the answer is not JSON`);
    }
  }
}

/** Runs `work` on every item, at most `limit` at once; the first failure stops the rest from starting. */
async function mapLimited(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await work(items[i]);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      concurrency: { type: 'string', default: '16' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { help: true };
  if (positionals.length !== 2) throw new Unverifiable('expected <base-url> and <course-id>');
  const [baseArg, courseId] = positionals;
  let base;
  try {
    base = new URL(baseArg);
  } catch {
    throw new Unverifiable(`not a URL: ${baseArg}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new Unverifiable(`not an http(s) URL: ${baseArg}`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new Unverifiable(`--concurrency must be an integer 1..256, not ${values.concurrency}`);
  }
  return {
    base: base.href.replace(/\/+$/, ''),
    courseId,
    concurrency,
    token: values.token ?? process.env.CLIENT_TOKEN ?? '',
  };
}

/** The command: prints one line per check and a verdict; resolves to the exit status. */
export async function main(argv = process.argv.slice(2)) {
  let options;
  try {
    options = parse(argv);
  } catch (error) {
    console.error(`verify-draw: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const { base, courseId, concurrency, token } = options;
  try {
    const draw = await getJson(base, `/courses/${encodeURIComponent(courseId)}/draw`, token);
    if (!draw) throw new Unverifiable(`course ${courseId} is unknown to ${base}`);
    console.log(`verify-draw: course ${draw.course_id} at ${base}`);

    // 1. The draw is made.
    if (draw.state !== 'drawn') {
      console.log(
        `✗ drawn: the draw is ${draw.state} (starts_at ${draw.starts_at}, ends_at ${draw.ends_at}, ` +
          `seed_sha256 ${draw.seed_sha256})`,
      );
      console.log('✗ verdict: not drawn yet');
      return 1;
    }
    const order = Array.isArray(draw.order) ? draw.order : [];
    console.log(`✓ drawn: ${order.length} entries in the published order`);

    const keys = [...new Set(order.filter((key) => typeof key === 'string'))];
    const records = await mapLimited(keys, concurrency, async (key) => {
      const path = `/enrollments/${encodeURIComponent(key)}`;
      const request = await getJson(base, path, token);
      const record = request ? await getJson(base, `${path}/events`, token) : null;
      return [key, request, record ? (record.events ?? []) : null];
    });
    const requests = new Map(records.map(([key, request]) => [key, request]));
    const events = new Map(records.map(([key, , record]) => [key, record]));

    const { checks, summary } = verifyDraw({ draw, requests, events });
    for (const { ok, text } of checks) console.log(`${ok ? '✓' : '✗'} ${text}`);
    if (summary) for (const line of formatSummary(summary)) console.log(line);
    const failed = checks.filter(({ ok }) => !ok).length;
    const total = checks.length + 1;
    console.log(
      failed === 0
        ? `✓ verdict: the draw of course ${draw.course_id} is verified (${total} checks passed)`
        : `✗ verdict: the draw of course ${draw.course_id} failed ${failed} of ${total} checks`,
    );
    return failed === 0 ? 0 : 1;
  } catch (error) {
    // Anything else is an answer this script cannot read: still not a verdict on the draw.
    console.error(`verify-draw: ${error instanceof Unverifiable ? error.message : error.stack}`);
    return 2;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main();
}
