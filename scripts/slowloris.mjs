// A bounded slowloris against a running CourseFlow API on 127.0.0.1: sockets that send nothing, sockets that
// trickle their headers, and sockets that trickle a body, all opened at once, while an honest client keeps
// asking GET /health. Reports how long the server let each kind hold its socket and how the honest client
// fared. The test suite runs it with short deadlines (test/http-hardening.int-spec.ts); by hand:
//   node scripts/slowloris.mjs --url http://127.0.0.1:8000 [--sockets 3000] [--max-seconds 60]
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const KINDS = ['silent', 'slow headers', 'slow body'];

/** What one kind of socket sends first, and then one piece of every tick. */
function script(kind, host) {
  if (kind === 'silent') return { first: '', tick: '' };
  if (kind === 'slow headers')
    return { first: `GET /health HTTP/1.1\r\nHost: ${host}\r\n`, tick: 'X-Slow: 1\r\n' };
  return {
    first:
      `POST /enroll HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
      'Content-Length: 1000\r\n\r\n{"student_id":"',
    tick: 'a',
  };
}

const percentile = (sorted, p) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/**
 * Opens `sockets` connections (a third of each kind) and waits until the server has closed every one, or
 * maxMs has passed. Resolves with, per kind, how long sockets were held (ms), and the honest client's figures.
 */
export async function slowloris({ url, sockets = 3000, tickMs = 500, maxMs = 60_000 }) {
  const { hostname, port } = new URL(url);
  const started = performance.now();
  const held = Object.fromEntries(KINDS.map((kind) => [kind, []]));
  let open = 0;
  let failedToOpen = 0;
  const pending = [];
  const timers = new Set();
  const all = [];
  for (let index = 0; index < sockets; index += 1) {
    const kind = KINDS[index % KINDS.length];
    const { first, tick } = script(kind, hostname);
    pending.push(
      new Promise((resolve) => {
        const socket = connect({ host: hostname, port: Number(port) });
        all.push(socket);
        let opened = 0;
        socket.on('connect', () => {
          opened = performance.now();
          open += 1;
          if (first) socket.write(first);
          if (tick) {
            const timer = setInterval(() => socket.writable && socket.write(tick), tickMs);
            timers.add(timer);
            socket.once('close', () => {
              clearInterval(timer);
              timers.delete(timer);
            });
          }
        });
        socket.on('data', () => undefined);
        socket.on('error', () => undefined);
        socket.once('close', () => {
          if (opened === 0) failedToOpen += 1;
          else {
            open -= 1;
            held[kind].push(performance.now() - opened);
          }
          resolve();
        });
      }),
    );
  }
  // The honest client: one request at a time on a fresh connection, for as long as the attack lasts.
  const honest = { sent: 0, ok: 0, latencies: [] };
  let attacking = true;
  const honestLoop = (async () => {
    while (attacking) {
      const at = performance.now();
      honest.sent += 1;
      try {
        const answer = await fetch(`${url}/health`, {
          headers: { connection: 'close' },
          signal: AbortSignal.timeout(5000),
        });
        await answer.arrayBuffer();
        if (answer.ok) honest.ok += 1;
      } catch {
        // counted as not ok
      }
      honest.latencies.push(performance.now() - at);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const deadline = new Promise((resolve) => setTimeout(resolve, maxMs).unref());
  await Promise.race([Promise.all(pending), deadline]);
  const stillOpen = open;
  attacking = false;
  await honestLoop;
  for (const timer of timers) clearInterval(timer);
  for (const socket of all) socket.destroy();
  const latencies = honest.latencies.sort((a, b) => a - b);
  return {
    sockets,
    failedToOpen,
    stillOpen,
    seconds: (performance.now() - started) / 1000,
    heldMs: Object.fromEntries(
      KINDS.map((kind) => {
        const sorted = held[kind].sort((a, b) => a - b);
        return [
          kind,
          {
            closed: sorted.length,
            median: Math.round(percentile(sorted, 0.5)),
            max: Math.round(sorted.at(-1) ?? 0),
          },
        ];
      }),
    ),
    honest: {
      sent: honest.sent,
      ok: honest.ok,
      p50Ms: Math.round(percentile(latencies, 0.5)),
      p99Ms: Math.round(percentile(latencies, 0.99)),
    },
  };
}

export function formatSlowloris(result) {
  const rows = Object.entries(result.heldMs).map(
    ([kind, { closed, median, max }]) =>
      `| ${kind} | ${closed} | ${(median / 1000).toFixed(1)} | ${(max / 1000).toFixed(1)} |`,
  );
  return [
    `${result.sockets} sockets opened at once (${result.failedToOpen} refused at connect), ${result.stillOpen} still open at the end, ${result.seconds.toFixed(1)} s`,
    '| kind | closed by the server | held, median (s) | held, max (s) |',
    '| --- | --- | --- | --- |',
    ...rows,
    `honest GET /health meanwhile: ${result.honest.ok}/${result.honest.sent} answered 200, p50 ${result.honest.p50Ms} ms, p99 ${result.honest.p99Ms} ms`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8000' },
      sockets: { type: 'string', default: '3000' },
      'max-seconds': { type: 'string', default: '60' },
    },
  });
  if (!/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(values.url)) {
    console.error('slowloris: --url must be http://127.0.0.1:<port> (load tests stay on this machine)');
    process.exit(2);
  }
  const result = await slowloris({
    url: values.url,
    sockets: Math.min(Number(values.sockets), 10_000),
    maxMs: Math.min(Number(values['max-seconds']), 300) * 1000,
  });
  console.log(formatSlowloris(result));
}
