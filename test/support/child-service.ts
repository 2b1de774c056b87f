import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { freePort } from '../../scripts/kit.mjs';
import { eventually } from './test-app.js';

/** The built service (`node dist/main.js`) as a real child process, as an orchestrator runs it. */
export interface ChildService {
  process: ChildProcess;
  baseUrl: string;
  /** Every line the process printed on stdout so far (its JSON log). */
  lines: string[];
  /** What it printed on stderr (Node warnings, a failed start). */
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Resolves once the service is ready (both dependencies answer), or, with until 'live', once it answers /health.
 * A variable given as undefined is taken out of the child's environment; `cwd` is its working directory.
 */
export async function startChildService(
  env: Record<string, string | undefined>,
  until: 'ready' | 'live' = 'ready',
  { cwd }: { cwd?: string } = {},
): Promise<ChildService> {
  if (!existsSync('dist/main.js')) throw new Error('dist/main.js is missing: run `npm run build` first');
  const port = await freePort();
  const child = spawn(process.execPath, [resolve('dist/main.js')], {
    env: { ...process.env, NODE_OPTIONS: '', ...env, SERVER_PORT: String(port) },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop()!;
    lines.push(...parts.filter((line) => line !== ''));
  });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      if (child.exitCode !== null)
        throw new Error(`service exited early:\n${[...lines, ...stderr].join('\n')}`);
      const answer = await fetch(`${baseUrl}/${until === 'ready' ? 'ready' : 'health'}`).catch(
        () => undefined,
      );
      return answer?.status === 200 ? true : undefined;
    },
    30_000,
    `the child service to be ${until}`,
  );
  return { process: child, baseUrl, lines, stderr, exited };
}

/**
 * A race test's worker processes (the built service, ROLE=worker): started, or stopped gracefully (SIGTERM),
 * until a count run; one killed (SIGKILL) as a crash would; all killed when the test ends.
 */
export class WorkerPool {
  private workers: ChildService[] = [];

  constructor(private readonly env: () => Record<string, string | undefined>) {}

  async scaleTo(count: number): Promise<void> {
    while (this.workers.length > count) {
      const worker = this.workers.pop()!;
      worker.process.kill('SIGTERM');
      const exit = await worker.exited;
      if (exit.code !== 0) throw new Error(`a worker stopped by SIGTERM exited ${JSON.stringify(exit)}`);
    }
    const started = await Promise.all(
      Array.from({ length: count - this.workers.length }, () => startChildService(this.env())),
    );
    this.workers = [...this.workers, ...started];
  }

  /** Kills the oldest worker (SIGKILL) and waits until it is gone. */
  async killOne(): Promise<void> {
    const victim = this.workers.shift();
    if (!victim) return;
    victim.process.kill('SIGKILL');
    await victim.exited;
  }

  async killAll(): Promise<void> {
    for (const worker of this.workers) worker.process.kill('SIGKILL');
    await Promise.all(this.workers.map((worker) => worker.exited));
    this.workers = [];
  }
}
