// Where a process's CPU went, from a V8 CPU profile (`node --cpu-prof`): each sample is charged to a part of
// the accept path, so the bench can say what bounds the accept figure instead of guessing.
import { readFileSync } from 'node:fs';

/**
 * The parts of the accept path. A sample is charged to the innermost of CourseFlow's own parts on its stack,
 * up to the Express router frame that called the middleware it runs in: the router frames a middleware's
 * `next()` goes through belong to that middleware. A sample with none of them there is charged to the
 * innermost part the bare NestJS app pays too. ioredis and pg frames are their own parts wherever they are
 * called from (the rate limit's counter, the claims, the per-batch read of decisions).
 */
const OWN = [
  ['rate limit (student rate-limit guard, Redis counter)', /rate-limit/],
  ['client token guard', /auth\/(client-token|operator-token)/],
  [
    'validation (ValidationPipe, class-validator, the enroll fast path)',
    /validation\.pipe|enroll-request\.accept|class-validator|class-transformer/,
  ],
  [
    'claim and queue (group commit, claim script, BullMQ job, course cache)',
    /dist\/(enrollment\/(enrollment\.(service|queue)|group-commit|idempotency)|courses)|bullmq/,
  ],
  ['helmet headers', /helmet|security-headers/],
  ['request id', /logging\.module/],
  ['415 and operator-page checks', /request-checks|operator-pages/],
  ['metrics', /enrollment-metrics|prom-client/],
  ['Redis client (ioredis: every command, sent and answered)', /ioredis|redis-parser|standard-as-callback/],
  ['PostgreSQL (pg, TypeORM)', /node_modules\/(pg|pg-[^/]+|typeorm)\//],
];
const ROUTER = 'Express and its router';
const SHARED = [
  ['garbage collection', /^\(garbage collector\) /],
  ['body-parser', /body-parser|raw-body|type-is|content-type|iconv-lite/],
  ["Nest's pipeline", /@nestjs\/(core|common|platform-express)/],
  [ROUTER, /node_modules\/(express|router|finalhandler|parseurl|on-finished|send|serve-static)\//],
  ['Node HTTP, sockets, streams', / node:/],
];

/**
 * CPU shares of the profile's samples taken between `fromUs` and `toUs` (microseconds of the monotonic clock:
 * process.hrtime's, which V8's timestamps share on Linux), idle time left out. Returns [{ part, own, share }],
 * largest first; `own` tells CourseFlow's parts from those the bare app pays too.
 */
export function cpuShares(file, fromUs = 0, toUs = Infinity) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const frame = ({ callFrame }) => `${callFrame.functionName} ${callFrame.url}`;
  // The edge (src/http/edge.ts) dispatches its steps as the router dispatches middlewares.
  const router = /node_modules\/router\/|dist\/http\/edge\.js/;
  const chargeOf = (id) => {
    let shared;
    for (let at = id; at !== undefined; at = parents.get(at)) {
      const name = frame(nodes.get(at));
      const own = OWN.find(([, pattern]) => pattern.test(name));
      if (own) return { part: own[0], own: true };
      // A router frame above a shared part is the dispatch into the middleware that part runs in.
      if (router.test(name) && shared && shared !== ROUTER) break;
      shared ??= SHARED.find(([, pattern]) => pattern.test(name))?.[0];
    }
    return { part: shared ?? 'other (native code, timers, the event loop)', own: false };
  };
  const totals = new Map();
  let busy = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i];
    if (at < fromUs || at > toUs || frame(nodes.get(id)).startsWith('(idle)')) return;
    const { part, own } = chargeOf(id);
    const delta = profile.timeDeltas[i];
    busy += delta;
    totals.set(part, { own, time: (totals.get(part)?.time ?? 0) + delta });
  });
  return [...totals]
    .map(([part, { own, time }]) => ({ part, own, share: time / busy }))
    .sort((a, b) => b.share - a.share);
}
