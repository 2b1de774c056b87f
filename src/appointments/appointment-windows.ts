import { BatchLoader, type LoadMany } from './batch-loader.js';
import type { AppointmentWindow } from './dto/appointment-batch.js';

interface Remembered {
  /** Null: the student has no appointment (remembered too: most students of a stampede have none). */
  window: AppointmentWindow | null;
  expires: number;
}

/**
 * Most students remembered at once. Entries leave as they expire; this bounds a stampede of more distinct
 * students than that within one TTL (the oldest are forgotten and, if asked for again, loaded again).
 */
const MAX_REMEMBERED = 20_000;

/**
 * Students' appointments as the accept path reads them: from memory for `ttlMs` after they were read, and
 * otherwise through a BatchLoader, so the misses of one turn of the event loop, whatever their students,
 * cost one query. forget() drops what this process knows of a student at once (its own writes call it);
 * another process's writes reach it when its entry expires, within `ttlMs`.
 */
export class AppointmentWindows {
  private readonly remembered = new Map<string, Remembered>();
  private readonly loader: BatchLoader<string, AppointmentWindow>;
  /**
   * Counts forget() calls: a lookup that began before one may have read what the write replaced, so it
   * answers its own caller but is not remembered.
   */
  private writes = 0;

  constructor(
    loadMany: LoadMany<string, AppointmentWindow>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.loader = new BatchLoader(loadMany);
  }

  async of(studentId: string): Promise<AppointmentWindow | null> {
    const known = this.remembered.get(studentId);
    if (known && known.expires > this.now()) return known.window;
    const writesBefore = this.writes;
    const window = (await this.loader.load(studentId)) ?? null;
    if (this.writes === writesBefore && this.ttlMs > 0) this.remember(studentId, window);
    return window;
  }

  /** What this process knows of these students is gone: their next lookups read PostgreSQL. */
  forget(studentIds: Iterable<string>): void {
    this.writes += 1;
    const ids = [...studentIds];
    for (const id of ids) this.remembered.delete(id);
    this.loader.forget(ids);
  }

  private remember(studentId: string, window: AppointmentWindow | null): void {
    const now = this.now();
    // Re-inserted at the end, so the map stays in expiry order: the expired and the oldest are at its head.
    this.remembered.delete(studentId);
    this.remembered.set(studentId, { window, expires: now + this.ttlMs });
    for (const [id, entry] of this.remembered) {
      if (entry.expires > now && this.remembered.size <= MAX_REMEMBERED) break;
      this.remembered.delete(id);
    }
  }
}
