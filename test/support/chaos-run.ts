import { execFile } from 'node:child_process';

export interface ScriptRun {
  exit: number | string | null;
  stdout: string;
  stderr: string;
}

/** Runs `scripts/chaos.mjs` to its end whatever its exit code: a failing run is the case worth reading. */
export function runChaos(env: NodeJS.ProcessEnv, timeout: number): Promise<ScriptRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['scripts/chaos.mjs'],
      { env: { ...process.env, NODE_OPTIONS: '', ...env }, timeout, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ exit: error ? (error.code ?? error.signal ?? null) : 0, stdout, stderr }),
    );
  });
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * What is wrong with a run that was to cover each fault once: a failed exit, a TOTAL that is not all zero,
 * a fault with no completed run in the table.
 */
export function chaosProblems(run: ScriptRun, faults: readonly string[]): string[] {
  const problems: string[] = [];
  if (run.exit !== 0) problems.push(`the script exited with ${run.exit}`);
  if (
    !/^TOTAL lost=0 doubled=0 order_violations=0 queued_without_job=0 dead_lettered=0 schedule_violations=0 swap_violations=0 offer_violations=0 draw_violations=0 webhook_missing=0 webhook_order_violations=0 webhook_bad_signatures=0 webhook_events=[1-9]\d* webhook_redelivered=\d+$/m.test(
      run.stdout,
    )
  ) {
    problems.push(`TOTAL is not all zero: ${/^TOTAL .*$/m.exec(run.stdout)?.[0] ?? 'no TOTAL line'}`);
  }
  for (const fault of faults) {
    if (!new RegExp(`^\\| ${escape(fault)} \\| 1 \\|`, 'm').test(run.stdout)) {
      problems.push(`no completed run of "${fault}" in the table`);
    }
  }
  return problems;
}

/** Fails with everything the script printed, so a red CI run explains itself. */
export function failWithOutput(problems: string[], run: ScriptRun): void {
  if (problems.length > 0) {
    throw new Error(`${problems.join('\n')}\n\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
  }
}
