import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** CI does not run the benchmark; this proves the script starts, drives every phase and prints its table. */
describe('npm run bench', () => {
  it('prints its Markdown table on a tiny load', async () => {
    const { stdout } = await run(process.execPath, ['scripts/bench.mjs'], {
      env: { ...process.env, NODE_OPTIONS: '', BENCH_SCALE: 'smoke' },
      timeout: 120_000,
    });
    expect(stdout).toMatch(/^Machine: \d+ cores/m);
    expect(stdout).toContain('| Phase | CourseFlow | Compared with | Ratio | Target |');
    for (const phase of ['accept: POST /enroll', 'allocate, hot course', 'allocate, spread']) {
      expect(stdout).toMatch(new RegExp(`^\\| ${phase}.*\\| [\\d.]+× \\|`, 'm'));
    }
    expect(stdout).toMatch(/^\| allocate, spread, 2 workers \| \d+ \| \d+ /m);
  }, 150_000);
});
