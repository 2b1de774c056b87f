// Types of scripts/slowloris.mjs for the TypeScript tests that import it.

export interface SlowlorisResult {
  sockets: number;
  /** Connections the server closed before they were established. */
  failedToOpen: number;
  /** Connections still open when the run ended (at maxMs). */
  stillOpen: number;
  seconds: number;
  /** Per kind of socket: how many the server closed, and how long it let them stay (ms). */
  heldMs: Record<'silent' | 'slow headers' | 'slow body', { closed: number; median: number; max: number }>;
  /** The honest client's GET /health requests meanwhile. */
  honest: { sent: number; ok: number; p50Ms: number; p99Ms: number };
}

export function slowloris(options: {
  url: string;
  sockets?: number;
  tickMs?: number;
  maxMs?: number;
}): Promise<SlowlorisResult>;

export function formatSlowloris(result: SlowlorisResult): string;
