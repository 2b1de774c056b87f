import { execFile } from 'node:child_process';

/** The benchmark's output, and what it printed on stderr: a failure names its cause instead of 'Command failed'. */
function runBench(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['scripts/bench.mjs'],
      { env: { ...process.env, NODE_OPTIONS: '', BENCH_SCALE: 'smoke' }, timeout: 240_000 },
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
    for (const phase of ['accept: POST /enroll', 'allocate, hot course', 'allocate, spread']) {
      expect(stdout).toMatch(new RegExp(`^\\| ${phase}.*\\| [\\d.]+× \\|`, 'm'));
    }
    expect(stdout).toMatch(/^\| allocate, spread, 2 workers \| \d+ \| \d+ /m);
  }, 270_000);
});
