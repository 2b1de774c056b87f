// npm run watch -- --student s-0042: prints a running service's live events (/ws) as they come, one line
// each, with how long after its commit each arrived. Survives a restart: it reconnects and resumes after
// the last cursor, so nothing is missed and nothing repeats.
// npm run watch -- --receive 9000 --secret <secret> [--register http://127.0.0.1:8000]: the other way in, a
// webhook receiver on 127.0.0.1:9000 that checks each delivery's signature as a real receiver must, answers
// 2xx, and prints the same lines, a repeat (at least once) marked as such; --fail-every n answers 500 to
// every n-th call, to watch the retries. Plain node, no build.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { LiveClient, liveUrl } from './kit.mjs';

const USAGE = `Usage: npm run watch -- [selectors] [options]
       npm run watch -- --receive <port> --secret <secret> [receiver options]

Selectors (at least one, each may be repeated):
  --student <student_id>      a student's events
  --key <idempotency_key>     one request's events
  --course <course_id>        a course's events (operators: needs the admin token)

Options:
  --token <admin token>       for --course (default: $ADMIN_TOKEN, else dev-admin-token)
  --client-token <token>      bearer token on the upgrade when the service sets CLIENT_TOKENS ($CLIENT_TOKEN)
  --url <ws url>              default ws://127.0.0.1:$SERVER_PORT/ws (8000); an http:// address works too
  --after <cursor>            first replay what came after this cursor (watch prints its last one on exit)
  --json                      print each event as one JSON line (the event, plus lag_ms)
  --help                      this text

Receiver (webhook deliveries instead of /ws):
  --receive <port>            listen on 127.0.0.1:<port> for webhook deliveries (POST, any path)
  --secret <secret>           the webhook's secret (16..256 printable ASCII, no spaces; $WEBHOOK_SECRET):
                              a delivery whose CourseFlow-Signature does not match it, or whose t is more
                              than 300 s away, is answered 401
  --register <base url>       first register http://127.0.0.1:<port>/ as a webhook of the service at
                              <base url> (POST /admin/webhooks, every event type, with --token), print its
                              id, and remove it (DELETE) on Ctrl-C
  --course <course_id>        with --register: only that course's events
  --fail-every <n>            answer 500 to every n-th delivery, so the service retries it
  --json                      print each event as one JSON line (plus lag_ms, webhook_id, repeat)

One line per event on stdout: the event's time, course, type, student, key, status, waitlist place or
capacity, reason, and its lag (receipt time minus the event's commit time, same machine clock); a receiver
adds the event's id, and marks an id it has already had as a repeat (deliveries are at least once: it
answers 2xx again and does nothing else). Answers, errors, reconnections, refused and failed deliveries go
to stderr. Ctrl-C stops.`;

function options() {
  try {
    return parseArgs({
      options: {
        student: { type: 'string', multiple: true, default: [] },
        key: { type: 'string', multiple: true, default: [] },
        course: { type: 'string', multiple: true, default: [] },
        token: { type: 'string', default: process.env.ADMIN_TOKEN || 'dev-admin-token' },
        'client-token': { type: 'string', default: process.env.CLIENT_TOKEN },
        url: { type: 'string', default: `ws://127.0.0.1:${process.env.SERVER_PORT || 8000}/ws` },
        after: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
        receive: { type: 'string' },
        secret: { type: 'string', default: process.env.WEBHOOK_SECRET },
        register: { type: 'string' },
        'fail-every': { type: 'string' },
      },
    }).values;
  } catch (error) {
    console.error(`${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
}

const args = options();
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const courses = args.course.map(Number);
if (courses.some((id) => !Number.isInteger(id) || id < 1)) {
  console.error(`--course takes a course id (a positive integer), not ${args.course.join(', ')}`);
  process.exit(2);
}

const time = (ms) => new Date(ms).toTimeString().slice(0, 8) + `.${String(ms % 1000).padStart(3, '0')}`;

/** `12:03:04.512  course 7  waitlisted        s-0042  demo-42  waitlisted #12                  lag 38 ms` */
function line({ event, receivedAt }) {
  const at = Date.parse(event.at);
  const place =
    event.type === 'capacity_changed'
      ? `capacity ${event.capacity}`
      : event.waitlist_position != null
        ? `#${event.waitlist_position}`
        : '';
  return [
    time(at),
    `course ${event.course_id}`.padEnd(10),
    event.type.padEnd(16),
    (event.student_id ?? '-').padEnd(10),
    (event.idempotency_key ?? '-').padEnd(20),
    `${event.status ?? ''} ${place}`.trim().padEnd(16),
    (event.reason ?? '').padEnd(14),
    `lag ${Math.max(0, receivedAt - at)} ms`,
  ].join('  ');
}

if (args.receive !== undefined) await receive();
else await watch();

/** Live events over /ws, for the selectors given. */
async function watch() {
  const selectors = [
    ...args.student.map((student_id) => ({ student_id })),
    ...args.key.map((idempotency_key) => ({ idempotency_key })),
    ...courses.map((course_id) => ({ course_id, token: args.token })),
  ];
  if (selectors.length === 0) {
    console.error(`Give at least one of --student, --key or --course (or --receive).\n\n${USAGE}`);
    process.exit(2);
  }
  const client = new LiveClient(args.url, selectors, {
    after: args.after,
    reconnect: true,
    keep: false,
    headers: args['client-token'] ? { authorization: `Bearer ${args['client-token']}` } : undefined,
  });
  let count = 0;
  client.on('event', (received) => {
    count += 1;
    console.log(
      args.json
        ? JSON.stringify({ ...received.event, lag_ms: received.receivedAt - Date.parse(received.event.at) })
        : line(received),
    );
  });
  /** The selector an answer is about: `student_id s-0042`. */
  const about = (message) =>
    ['student_id', 'idempotency_key', 'course_id']
      .filter((field) => message[field] !== undefined)
      .map((field) => `${field} ${message[field]}`)
      .join(', ');
  let subscribed = 0;
  client.on('subscribed', (message) => {
    subscribed += 1;
    console.error(`subscribed: ${about(message)} (cursor ${message.cursor})`);
  });
  client.on('refused', (message) =>
    console.error(
      `refused${about(message) ? ` (${about(message)})` : ''}: ${message.message}${message.field ? ` [${message.field}]` : ''}`,
    ),
  );
  client.on('closed', ({ code, reason, retryInMs }) =>
    console.error(`closed: ${code}${reason ? ` ${reason}` : ''}; reconnecting in ${retryInMs} ms`),
  );
  client.on('gave-up', (error) => {
    console.error(error.message);
    process.exit(1);
  });
  process.once('SIGINT', async () => {
    await client.close();
    console.error(
      `\n${count} event${count === 1 ? '' : 's'}; resume with --after ${client.cursor ?? '(none yet)'}`,
    );
    process.exit(0);
  });

  console.error(`watching ${liveUrl(args.url)} (Ctrl-C stops)`);
  // A subscription refused outright (a bad token, an unknown course) is not retried; with none left, stop.
  await client.ready.then(
    () => {
      if (subscribed === 0) {
        console.error('nothing to watch: every subscription was refused');
        process.exit(1);
      }
    },
    () => undefined, // gave-up has said why and exits
  );
}

// ---------------------------------------------------------------- the webhook receiver

/** How far a signature's t may be from now (either way) before the delivery is refused as a replay. */
const TOLERANCE_SECONDS = 300;
/** A delivery is one event: far below this. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Whether `CourseFlow-Signature: t=<unix s>,v1=<hex>` signs this raw body with the secret: v1 is
 * HMAC-SHA256(secret, "<t>.<raw body>"), compared in constant time, and t is within 300 s of now. What
 * README.md ("Webhooks") shows a receiver doing.
 */
function signedBy(secret, rawBody, header) {
  const parts = Object.fromEntries(
    String(header ?? '')
      .split(',')
      .map((part) => part.split('=').map((side) => side.trim())),
  );
  const t = Number(parts.t);
  if (!/^\d+$/.test(parts.t ?? '') || Math.abs(Date.now() / 1000 - t) > TOLERANCE_SECONDS) return false;
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  const expected = createHmac('sha256', secret).update(`${parts.t}.${rawBody}`).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A webhook receiver on 127.0.0.1:--receive, optionally registered with the service at --register. */
async function receive() {
  const port = Number(args.receive);
  const failEvery = args['fail-every'] === undefined ? 0 : Number(args['fail-every']);
  const problems = [
    !Number.isInteger(port) || port < 1 || port > 65535
      ? `--receive takes a port (1..65535), not ${args.receive}`
      : '',
    args.secret === undefined ? '--receive needs --secret (or $WEBHOOK_SECRET)' : '',
    args.secret !== undefined && !/^[!-~]{16,256}$/.test(args.secret)
      ? '--secret must be 16..256 printable ASCII characters without spaces'
      : '',
    !Number.isInteger(failEvery) || failEvery < 0
      ? `--fail-every takes a whole number, not ${args['fail-every']}`
      : '',
    courses.length > 1 ? '--register takes one --course at most' : '',
    args.student.length + args.key.length > 0 || (courses.length > 0 && args.register === undefined)
      ? '--student, --key and --course select /ws events; a receiver gets what its webhook selects (--course with --register)'
      : '',
  ].filter(Boolean);
  if (problems.length > 0) {
    console.error(`${problems.join('\n')}\n\n${USAGE}`);
    process.exit(2);
  }

  const seen = new Set();
  /** Per course, the highest event sequence delivered: a lower new one would break commit order. */
  const lastSeq = new Map();
  const counts = { calls: 0, events: 0, repeats: 0, refused: 0, failed: 0 };

  const server = createServer((request, response) => {
    const answer = (status, text) => {
      response.writeHead(status, { 'content-type': 'text/plain' }).end(text);
      return status;
    };
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      const receivedAt = Date.now();
      counts.calls += 1;
      const eventId = request.headers['courseflow-event-id'] ?? '?';
      const refuse = (status, why) => {
        counts.refused += 1;
        console.error(`${time(receivedAt)}  refused ${eventId}: ${status} ${why}`);
        answer(status, why);
      };
      if (request.method !== 'POST') return refuse(405, 'deliveries are POSTs');
      if (size > MAX_BODY_BYTES) return refuse(413, 'body too large');
      // The signature is over the raw bytes as they came: verify before parsing, never a re-serialization.
      const rawBody = Buffer.concat(chunks).toString('utf8');
      if (!signedBy(args.secret, rawBody, request.headers['courseflow-signature'])) {
        return refuse(401, 'bad or stale CourseFlow-Signature');
      }
      let delivery;
      try {
        delivery = JSON.parse(rawBody);
      } catch {
        return refuse(400, 'body is not JSON');
      }
      const event = delivery?.event;
      if (typeof event?.id !== 'string' || typeof event.type !== 'string') {
        return refuse(400, 'no event with an id and a type');
      }
      if (failEvery > 0 && counts.calls % failEvery === 0) {
        counts.failed += 1;
        console.error(
          `${time(receivedAt)}  answered 500 to ${event.id} on purpose (--fail-every ${failEvery})`,
        );
        return answer(500, 'failing on purpose');
      }
      const repeat = seen.has(event.id);
      seen.add(event.id);
      counts[repeat ? 'repeats' : 'events'] += 1;
      answer(200, repeat ? 'already had it' : 'ok');
      // Ids read "<course_id>-<seq>": a new one below the last of its course came out of commit order.
      const [, course, seq] = /^(\d+)-(\d+)$/.exec(event.id) ?? [];
      if (!repeat && seq !== undefined) {
        if (Number(seq) < (lastSeq.get(course) ?? 0)) {
          console.error(`${event.id} arrived after ${course}-${lastSeq.get(course)}: out of commit order`);
        }
        lastSeq.set(course, Math.max(Number(seq), lastSeq.get(course) ?? 0));
      }
      console.log(
        args.json
          ? JSON.stringify({
              ...event,
              lag_ms: receivedAt - Date.parse(event.at),
              webhook_id: delivery.webhook_id,
              repeat,
            })
          : `${line({ event, receivedAt })}  ${event.id}${repeat ? '  repeat (already had it)' : ''}`,
      );
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  }).catch((error) => {
    console.error(`cannot listen on 127.0.0.1:${port}: ${error.message}`);
    process.exit(1);
  });
  const url = `http://127.0.0.1:${port}/`;
  console.error(`receiving webhook deliveries at ${url} (Ctrl-C stops)`);

  const webhook = args.register === undefined ? undefined : await register(url);

  const stop = async () => {
    server.close();
    if (webhook) {
      const removed = await admin('DELETE', `/admin/webhooks/${webhook.id}`).catch((error) => error);
      console.error(
        removed.status === 204
          ? `\nremoved webhook ${webhook.id}`
          : `\ncould not remove webhook ${webhook.id} (${removed.status ?? removed.message}): DELETE ${args.register}/admin/webhooks/${webhook.id}`,
      );
    }
    const { calls, events, repeats, refused, failed } = counts;
    console.error(
      `${events} event${events === 1 ? '' : 's'}, ${repeats} repeat${repeats === 1 ? '' : 's'} ` +
        `in ${calls} call${calls === 1 ? '' : 's'} (${refused} refused, ${failed} failed on purpose)`,
    );
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** An operator's call to the service at --register; resolves with { status, body }. */
async function admin(method, path, body) {
  const response = await fetch(new URL(path, args.register), {
    method,
    headers: {
      authorization: `Bearer ${args.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** Registers the receiver for every event type (of --course's course if given); exits when refused. */
async function register(url) {
  const created = await admin('POST', '/admin/webhooks', {
    url,
    secret: args.secret,
    events: ['*'],
    ...(courses.length > 0 ? { course_id: courses[0] } : {}),
  }).catch((error) => ({ status: 0, body: { message: error.message } }));
  if (created.status !== 201) {
    console.error(
      `could not register with ${args.register}: ${created.status || 'no answer'} ${created.body?.message ?? ''}`.trim(),
    );
    process.exit(1);
  }
  console.error(
    `registered webhook ${created.body.id} at ${args.register} for ${courses.length > 0 ? `course ${courses[0]}` : 'every course'}, every event type; Ctrl-C removes it`,
  );
  return created.body;
}
