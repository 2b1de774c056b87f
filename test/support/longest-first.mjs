// Jest's order for a fresh clone (no timing cache yet): the files that take longest first, so the two workers
// do not end with one of them alone on a three-minute file. Jest's own order (cached durations, then size)
// follows for the rest.
import JestSequencer from '@jest/test-sequencer';

const Sequencer = JestSequencer.default ?? JestSequencer;

/** The int files that take minutes in CI (durations in the fresh-clone run of 2026-12-06). */
const LONGEST = [
  'bench-smoke.int-spec.ts', // 198 s
  'webhooks.int-spec.ts', // 145 s
  'lifecycle-races.int-spec.ts', // 105 s
  'fuzz.int-spec.ts', // 92 s
  'schedule-races.int-spec.ts', // 88 s
];

const rank = (path) => {
  const at = LONGEST.findIndex((name) => path.endsWith(`/${name}`));
  return at < 0 ? LONGEST.length : at;
};

export default class LongestFirst extends Sequencer {
  sort(tests) {
    const ordered = super.sort(tests);
    return [...ordered].sort((a, b) => rank(a.path) - rank(b.path));
  }
}
