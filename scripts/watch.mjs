// npm run watch -- --student s-0042: prints a running service's live events (/ws) as they come, one line
// each, with how long after its commit each arrived. Survives a restart: it reconnects and resumes after
// the last cursor, so nothing is missed and nothing repeats. Plain node, no build.
import { parseArgs } from 'node:util';
import { LiveClient, liveUrl } from './kit.mjs';

const USAGE = `Usage: npm run watch -- [selectors] [options]

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

One line per event on stdout: the event's time, course, type, student, key, status, waitlist place or
capacity, reason, and its lag (receipt time minus the event's commit time, same machine clock). Answers,
errors and reconnections go to stderr. Ctrl-C stops.`;

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
const selectors = [
  ...args.student.map((student_id) => ({ student_id })),
  ...args.key.map((idempotency_key) => ({ idempotency_key })),
  ...courses.map((course_id) => ({ course_id, token: args.token })),
];
if (selectors.length === 0) {
  console.error(`Give at least one of --student, --key or --course.\n\n${USAGE}`);
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
