import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What scripts/verify-draw.mjs exports: plain JavaScript without a declaration file, so typed here. */
interface VerifyDrawScript {
  ticketOf(seed: string, courseId: number, studentId: string): string;
  recomputeOrder(seed: string, courseId: number, requests: readonly any[]): { order: string[]; ties: number };
  checkDecisions(entries: ReadonlyArray<{ request: any; decision: any }>): string[];
  verifyDraw(published: Published): { checks: Array<{ ok: boolean; text: string }>; summary: any };
}

/** A draw as a server publishes it: GET /courses/:id/draw, and each entry's request object and events. */
interface Published {
  draw: any;
  requests: Map<string, any>;
  events: Map<string, any[] | null>;
}

const SCRIPT = 'scripts/verify-draw.mjs';
const script = (await import(`../${SCRIPT}`)) as VerifyDrawScript;

const COURSE = 7;
const SEED = createHash('sha256').update('verify-draw spec seed').digest('hex');
const CAPACITY = 8;
/** The student with three keys (priority 10): the first two sent in the same millisecond (a tie), the third later. */
const TRIPLE = 's-07';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const ticket = (studentId: string) =>
  createHmac('sha256', Buffer.from(SEED, 'utf8')).update(`${COURSE}:${studentId}`).digest();

/**
 * A course's drawn opening as a correct server publishes it: 30 entries of 28 students (priorities 0, 5 and
 * 10; TRIPLE with three keys), in the draw order computed here independently of the script, and decided in
 * that order on CAPACITY seats: one entry rejected for a time conflict and one withdrawn after the draw.
 */
function correctDraw(): Published {
  const start = Date.parse('2026-12-01T09:00:00.000Z');
  const accepted: Array<{ key: string; student: string; priority: number; at: number }> = [];
  for (let n = 1; n <= 28; n += 1) {
    const student = `s-${String(n).padStart(2, '0')}`;
    const priority = n % 7 === 0 ? 10 : n % 3 === 0 ? 5 : 0;
    accepted.push({ key: `k-${student}`, student, priority, at: start + ((n * 37) % 1000) });
  }
  const first = accepted.find(({ student }) => student === TRIPLE)!;
  // Keys are any printable ASCII: these need URL encoding.
  accepted.push({ ...first, key: `k ${TRIPLE}/second` });
  accepted.push({ ...first, key: `k ${TRIPLE}?third`, at: start + 5000 });
  accepted.sort((a, b) => a.at - b.at);

  const ordered = accepted
    .map((entry, acceptance) => ({ ...entry, acceptance, ticket: ticket(entry.student) }))
    .sort(
      (a, b) => b.priority - a.priority || Buffer.compare(a.ticket, b.ticket) || a.acceptance - b.acceptance,
    );
  const single = ordered.filter(({ student }) => student !== TRIPLE);
  const withdrawn = single.at(-1)!.key;
  const conflicting = single.at(-2)!.key;

  const requests = new Map<string, any>();
  const events = new Map<string, any[] | null>();
  const holds = new Map<string, 'enrolled' | 'waitlisted'>();
  let seatsTaken = 0;
  let waitlisted = 0;
  ordered.forEach(({ key, student, priority, at }, index) => {
    const decidedAt = new Date(start + 60_000 + index).toISOString();
    const hold = holds.get(student);
    let decision: { type: string; reason: string | null; position: number | null };
    if (key === withdrawn) decision = { type: 'cancelled', reason: null, position: null };
    else if (hold) decision = { type: 'rejected', reason: `already_${hold}`, position: null };
    else if (key === conflicting) decision = { type: 'rejected', reason: 'time_conflict', position: null };
    else if (seatsTaken < CAPACITY) {
      seatsTaken += 1;
      decision = { type: 'enrolled', reason: null, position: null };
    } else {
      waitlisted += 1;
      decision = { type: 'waitlisted', reason: null, position: waitlisted };
    }
    if (decision.type === 'enrolled' || decision.type === 'waitlisted') holds.set(student, decision.type);
    requests.set(key, {
      idempotency_key: key,
      student_id: student,
      course_id: COURSE,
      priority,
      status: decision.type,
      waitlist_position: decision.position,
      reason: decision.reason,
      requested_at: new Date(at).toISOString(),
      decided_at: decidedAt,
      promoted_at: null,
      dropped_at: decision.type === 'cancelled' ? decidedAt : null,
      swap_for: null,
      blocked_reason: null,
      offer_expires_at: null,
      draw_rank: index + 1,
    });
    events.set(key, [
      {
        id: `e-${index + 1}`,
        cursor: String(index + 1),
        txid: String(1000 + Math.floor(index / 10)),
        type: decision.type,
        course_id: COURSE,
        student_id: student,
        idempotency_key: key,
        status: decision.type,
        waitlist_position: decision.position,
        reason: decision.reason,
        at: decidedAt,
      },
    ]);
  });
  const order = ordered.map(({ key }) => key);
  return {
    draw: {
      course_id: COURSE,
      state: 'drawn',
      starts_at: '2026-12-01T08:50:00.000Z',
      ends_at: '2026-12-01T09:05:00.000Z',
      seed_sha256: sha256(SEED),
      seed: SEED,
      entries: order.length,
      order,
    },
    requests,
    events,
  };
}

/** The draw with the entries at places `place` and `place + 1` exchanged, their draw_rank following. */
function withSwappedPlaces(published: Published, place: number): Published {
  const order = [...published.draw.order];
  [order[place - 1], order[place]] = [order[place], order[place - 1]];
  const requests = new Map(published.requests);
  order.forEach((key, index) => requests.set(key, { ...requests.get(key), draw_rank: index + 1 }));
  return { ...published, draw: { ...published.draw, order }, requests };
}

/** The first place whose entry and the next are of different students (so never a tie). */
const untiedPlace = (published: Published) => {
  const order: string[] = published.draw.order;
  const student = (key: string) => published.requests.get(key).student_id;
  return order.findIndex((key, i) => i > 0 && student(order[i - 1]) !== student(key));
};

/** The entries in draw order with their decisions, as checkDecisions takes them. */
const decided = (published: Published) =>
  (published.draw.order as string[]).map((key) => ({
    request: published.requests.get(key),
    decision: published.events.get(key)![0],
  }));

const failures = (published: Published) =>
  script
    .verifyDraw(published)
    .checks.filter(({ ok }) => !ok)
    .map(({ text }) => text);

describe('verifying an opening draw (scripts/verify-draw.mjs)', () => {
  it('computes the ticket as HMAC-SHA256(seed, "<course_id>:<student_id>") in lowercase hex', () => {
    expect(script.ticketOf(SEED, COURSE, 's-01')).toBe(ticket('s-01').toString('hex'));
  });

  it('recomputes the published order, counting one tie', () => {
    const published = correctDraw();
    const requests = (published.draw.order as string[]).map((key) => published.requests.get(key));
    expect(script.recomputeOrder(SEED, COURSE, requests)).toEqual({ order: published.draw.order, ties: 1 });
  });

  it("keeps the published relative order of a student's two keys sent in the same millisecond", () => {
    const published = correctDraw();
    const tied = (published.draw.order as string[]).findIndex((key) => key === `k ${TRIPLE}/second`);
    const order = [...published.draw.order];
    [order[tied - 1], order[tied]] = [order[tied], order[tied - 1]];
    const requests = order.map((key) => published.requests.get(key));
    expect(script.recomputeOrder(SEED, COURSE, requests).order).toEqual(order);
  });

  it('passes a correct draw, with its summary', () => {
    const published = correctDraw();
    const { checks, summary } = script.verifyDraw(published);
    expect(checks.filter(({ ok }) => !ok)).toEqual([]);
    expect(checks).toHaveLength(5);
    expect(summary).toEqual({
      entries: 30,
      enrolled: CAPACITY,
      waitlisted: 30 - CAPACITY - 4,
      rejected: { already_enrolled: 2, time_conflict: 1 },
      cancelled: 1,
      ties: 1,
      seed: SEED,
    });
  });

  it('fails a draw whose order has two entries swapped, naming both', () => {
    const published = correctDraw();
    const place = untiedPlace(published);
    const [earlier, later] = published.draw.order.slice(place - 1, place + 1);
    const failed = failures(withSwappedPlaces(published, place));
    const order = failed.filter((text) => text.startsWith('order:'));
    expect(order).toHaveLength(1);
    expect(order[0]).toContain(`place ${place} holds ${later} in the published order, but ${earlier}`);
    expect(failed.some((text) => text.startsWith('requests:'))).toBe(false);
  });

  it('fails a draw whose seed does not hash to the published seed_sha256', () => {
    const published = correctDraw();
    published.draw.seed_sha256 = sha256('another seed');
    expect(failures(published)).toEqual([
      `seed: SHA-256 of the revealed seed is ${sha256(SEED)}, but the published seed_sha256 is ${sha256('another seed')}`,
    ]);
  });

  it('fails a request whose draw_rank is not its place', () => {
    const published = correctDraw();
    const key = published.draw.order[2];
    published.requests.set(key, { ...published.requests.get(key), draw_rank: 4 });
    expect(failures(published)).toEqual([`requests: ${key} has draw_rank 4, but place 3 in the order`]);
  });

  it('fails an entry enrolled after an earlier one was waitlisted', () => {
    const entries = decided(correctDraw());
    const enrolled = entries.findLastIndex(({ decision }) => decision.type === 'enrolled');
    const waitlisted = entries.findIndex(({ decision }) => decision.type === 'waitlisted');
    [entries[enrolled], entries[waitlisted]] = [
      { ...entries[enrolled], decision: entries[waitlisted].decision },
      { ...entries[waitlisted], decision: entries[enrolled].decision },
    ];
    expect(script.checkDecisions(entries)).toEqual([
      `${entries[waitlisted].request.idempotency_key} (place ${waitlisted + 1}) was enrolled after ` +
        `${entries[enrolled].request.idempotency_key} (place ${enrolled + 1}) was waitlisted`,
    ]);
  });

  it('fails waitlist positions that do not increase in draw order', () => {
    const entries = decided(correctDraw());
    const second = entries.filter(({ decision }) => decision.type === 'waitlisted')[1];
    second.decision = { ...second.decision, waitlist_position: 1 };
    const problems = script.checkDecisions(entries);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/was waitlisted at position 1, after .* at position 1$/);
  });

  it("fails a student's second key that was enrolled too", () => {
    const entries = decided(correctDraw());
    const keys = entries.filter(({ request }) => request.student_id === TRIPLE);
    expect(keys.map(({ decision }) => decision.reason)).toEqual([
      null,
      'already_enrolled',
      'already_enrolled',
    ]);
    keys[1].decision = { ...keys[1].decision, type: 'enrolled', status: 'enrolled', reason: null };
    const place = (entry: (typeof entries)[number]) => entries.indexOf(entry) + 1;
    expect(script.checkDecisions(entries)).toContain(
      `${keys[1].request.idempotency_key} (place ${place(keys[1])}) was enrolled, but student ${TRIPLE} already ` +
        `held ${keys[0].request.idempotency_key} (place ${place(keys[0])}): expected rejected already_*`,
    );
  });

  describe('run against a server', () => {
    /** Serves a published draw: GET /courses/7/draw and /enrollments/<key>[/events]; throttles once, fails once. */
    async function serve(published: Published) {
      const authorizations = new Set<string>();
      let throttled = false;
      let failed = false;
      const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        authorizations.add(req.headers.authorization ?? '(none)');
        const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(JSON.stringify(body));
        };
        const [, resource, id, tail, ...rest] = (req.url ?? '').split('/');
        if (req.method !== 'GET' || rest.length > 0) return reply(404, { statusCode: 404 });
        if (resource === 'courses' && id === String(COURSE) && tail === 'draw') {
          if (!throttled) {
            throttled = true;
            return reply(429, { statusCode: 429 }, { 'retry-after': '1' });
          }
          return reply(200, published.draw);
        }
        const key = resource === 'enrollments' && id ? decodeURIComponent(id) : '';
        const request = published.requests.get(key);
        if (!request) return reply(404, { statusCode: 404 });
        if (tail === undefined) {
          if (!failed) {
            failed = true;
            return reply(503, { statusCode: 503 });
          }
          return reply(200, request);
        }
        if (tail === 'events') return reply(200, { events: published.events.get(key) });
        return reply(404, { statusCode: 404 });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      return {
        base: `http://127.0.0.1:${port}`,
        authorizations,
        close: () => new Promise<void>((resolve) => server.close(() => resolve())),
      };
    }

    /** Runs the script as `npm run verify-draw` does (its exit status, and what it printed). */
    function verifyDraw(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [SCRIPT, ...args], {
          env: { ...process.env, NODE_OPTIONS: '', CLIENT_TOKEN: 'spec-token' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (status) => resolve({ status, stdout, stderr }));
      });
    }

    const verdictOf = (stdout: string) => stdout.trimEnd().split('\n').at(-1);
    const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

    it('exits 0 on a correct draw, every check passing, the token sent on every call', async () => {
      const server = await serve(correctDraw());
      try {
        const { status, stdout, stderr } = await verifyDraw([
          server.base,
          String(COURSE),
          '--concurrency',
          '4',
        ]);
        expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
        expect(verdictOf(stdout)).toBe(
          `✓ verdict: the draw of course ${COURSE} is verified (6 checks passed)`,
        );
        expect(stdout.match(/^✓ /gm)).toHaveLength(7);
        expect(stdout).not.toMatch(/^✗/m);
        expect(stdout).toContain(`seed: ${SEED}`);
        expect([...server.authorizations]).toEqual(['Bearer spec-token']);
      } finally {
        await server.close();
      }
    });

    it('exits 1 on a draw with a tampered order, naming the swapped pair', async () => {
      const published = correctDraw();
      const place = untiedPlace(published);
      const [earlier, later] = published.draw.order.slice(place - 1, place + 1);
      const server = await serve(withSwappedPlaces(published, place));
      try {
        const { status, stdout } = await verifyDraw([server.base, String(COURSE)]);
        expect(status).toBe(1);
        expect(stdout).toMatch(
          new RegExp(`^✗ order: place ${place} holds ${escaped(later)} .* but ${escaped(earlier)} `, 'm'),
        );
        expect(verdictOf(stdout)).toMatch(
          new RegExp(`^✗ verdict: the draw of course ${COURSE} failed \\d of 6 checks$`),
        );
      } finally {
        await server.close();
      }
    });

    it('exits 1 before the draw is made, showing the published seed hash', async () => {
      const published = correctDraw();
      published.draw = { ...published.draw, state: 'open', seed: null, entries: null, order: null };
      const server = await serve(published);
      try {
        const { status, stdout } = await verifyDraw([server.base, String(COURSE)]);
        expect(status).toBe(1);
        expect(stdout).toContain(`seed_sha256 ${sha256(SEED)}`);
        expect(verdictOf(stdout)).toBe('✗ verdict: not drawn yet');
      } finally {
        await server.close();
      }
    });

    it('exits 2 with its usage when an argument is missing, and for an unknown course', async () => {
      const usage = await verifyDraw(['http://127.0.0.1:1']);
      expect(usage.status).toBe(2);
      expect(usage.stderr).toContain('Usage: npm run verify-draw -- <base-url> <course-id>');
      const server = await serve(correctDraw());
      try {
        const unknown = await verifyDraw([server.base, '999']);
        expect(unknown.status).toBe(2);
        expect(unknown.stderr).toContain('course 999 is unknown');
      } finally {
        await server.close();
      }
    });
  });
});
