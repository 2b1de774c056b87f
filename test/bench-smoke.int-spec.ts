import { execFile } from 'node:child_process';

/** The benchmark's output, and what it printed on stderr: a failure names its cause instead of 'Command failed'. */
function runBench(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['scripts/bench.mjs'],
      { env: { ...process.env, NODE_OPTIONS: '', BENCH_SCALE: 'smoke' }, timeout: 330_000 },
      (error, stdout, stderr) =>
        error
          ? reject(new Error(`bench failed (${error.message.split('\n')[0]}):\n${stderr}`))
          : resolve(stdout),
    );
  });
}

/** CI does not run the benchmark; this proves the script starts, drives every phase and prints its table. */
describe('npm run bench', () => {
  it('prints its Markdown table on a tiny load', async () => {
    const stdout = await runBench();
    expect(stdout).toMatch(/^Machine: \d+ cores/m);
    expect(stdout).toContain('| Phase | CourseFlow | Compared with | Ratio | Target |');
    const figure = String.raw`[\d,.]+(?: \([\d,.]+–[\d,.]+\))?`;
    expect(stdout).toMatch(
      new RegExp(
        `^\\| accept: POST /enroll.* ${figure} req/s.*API CPU ${figure} ms/request \\| bare NestJS app: ${figure} req/s.*CPU ${figure} ms/request \\| [\\d,.]+×`,
        'm',
      ),
    );
    for (const fill of ['stampede fill', 'one-request jobs', 'burst fill']) {
      expect(stdout).toMatch(
        new RegExp(
          `^\\| allocate, hot course, ${fill}.*\\| ${figure} decisions/s \\| pgbench naive, 1 row: ${figure} tps \\(Node loop ${figure}\\) \\| [\\d,.]+× \\|`,
          'm',
        ),
      );
    }
    expect(stdout).toMatch(/^\| allocate, hot course, live: 202 → decision.*p99 [\d,.]+ ms/m);
    expect(stdout).toMatch(
      /^\| allocate, spread: \d+ courses, 1 worker \| [\d,]+ decisions\/s \| pgbench naive/m,
    );
    expect(stdout).toMatch(/^\| allocate, spread: \d+ courses, 2 workers \| [\d,]+ decisions\/s/m);
    expect(stdout).toMatch(
      /^\| drop → promotion, hot course under a stampede .*\| p50 [\d,.]+ ms, p99 [\d,.]+ ms \| idle course: p50 [\d,.]+ ms/m,
    );
    expect(stdout).toMatch(
      /^\| drops per second, hot course .*\| [\d,]+ drops\/s \| pgbench naive drop \+ promote: [\d,]+ tps \| [\d,.]+× \|/m,
    );
    expect(stdout).toMatch(/^\| spread, 2 workers \| \d+ \| \d+ /m);
    expect(stdout).toMatch(
      new RegExp(
        `^\\| live events on /ws: \\d+ subscribers .*\\| ${figure} events/s \\(${figure} events\\), commit → receipt p50 ${figure} ms, p99 ${figure} ms \\|`,
        'm',
      ),
    );
    expect(stdout).toMatch(
      new RegExp(
        `^\\| accept: POST /enroll with \\d+ /ws subscribers connected.*\\| ${figure} req/s.*\\| without subscribers: ${figure} req/s`,
        'm',
      ),
    );
    expect(stdout).toMatch(/^\| API peak RSS with \d+ \/ws subscribers connected \| [\d,.]+ MiB/m);
    // Webhooks: accept and decide with a webhook registered (fast and slow receiver) against none, and the lag.
    expect(stdout).toMatch(
      new RegExp(
        `^\\| accept with a webhook \\(\\["\\*"\\]\\) to a fast receiver .*\\| ${figure} req/s.*\\| no webhook: ${figure} req/s.*\\| [\\d,.]+(?: \\([\\d,.]+–[\\d,.]+\\))?× \\(per run\\)`,
        'm',
      ),
    );
    expect(stdout).toMatch(
      new RegExp(
        `^\\| accept with a webhook to a slow receiver .*\\| ${figure} req/s.*\\| no webhook: ${figure} req/s`,
        'm',
      ),
    );
    expect(stdout).toMatch(
      new RegExp(
        `^\\| decide with the slow receiver's webhook.*\\| ${figure} decisions/s \\| no webhook: ${figure} decisions/s`,
        'm',
      ),
    );
    // Every event of the stampede's course reached the receiver (the bench also fails when one did not).
    expect(stdout).toMatch(
      /^\| webhook delivery lag, fast receiver: .*\(([\d,]+) events\), commit → receipt p50 [\d,.]+ ms, p99 [\d,.]+ ms, max [\d,.]+ ms; received \1, /m,
    );
    expect(stdout).toMatch(
      new RegExp(
        `^\\| accept on a Redis Cluster .*\\| REDIS_WAIT_REPLICAS=1: ${figure} req/s, p99 ${figure} ms \\| REDIS_WAIT_REPLICAS=0: ${figure} req/s`,
        'm',
      ),
    );
    // What a capacity plan needs: each part's CPU per request, accept and decide, hot and spread.
    for (const phase of ['accept, hot course', 'decide, hot course', 'accept, spread', 'decide, spread']) {
      expect(stdout).toMatch(
        new RegExp(
          `^\\| ${phase}.*\\| ${figure} ms \\(([\\d,]+/s per core|below the 10 ms clock tick)\\) \\|$`,
          'm',
        ),
      );
    }
    expect(stdout).toMatch(
      new RegExp(
        `^Redis memory per request .*: ${figure} bytes while queued, ${figure} bytes once decided`,
        'm',
      ),
    );
    // What bounds accept: the API's and the bare app's CPU profiles, charged to the parts of the accept path.
    expect(stdout).toContain(
      '| Part of the accept path | CourseFlow API: share of busy CPU | ms per request | bare NestJS app: share | ms per request |',
    );
    expect(stdout).toMatch(/^\| claim and queue .*\| [\d.]+% \| [\d.]+ \| – \| – \|$/m);
    expect(stdout).toMatch(/^\| Node HTTP, sockets, streams \| [\d.]+% \| [\d.]+ \| [\d.]+% \| [\d.]+ \|$/m);
    const shareOf = (label: string) =>
      Number(new RegExp(`^\\| \\*\\*${label}\\*\\* \\| ([\\d.]+)%`, 'm').exec(stdout)?.[1]);
    expect(shareOf("CourseFlow's own parts") + shareOf('parts the bare app has too')).toBeCloseTo(100, 0);
    // Every subscriber received exactly its student's events (the bench also fails when one did not).
    expect(stdout).toMatch(
      /^\| live events delivered exactly .*\| (\d+) of \1 subscribers exact; operator: (\d+) decision events for \2 decisions/m,
    );
  }, 360_000);
});
