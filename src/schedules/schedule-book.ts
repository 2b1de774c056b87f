import type { EntityManager } from 'typeorm';
import type { StudentSchedule } from './schedule.rules.js';
import {
  type LoadWrite,
  loadChanged,
  loadWriteOf,
  lockLoads,
  readHoldings,
  readSchedules,
  type ScheduleDefaults,
  withHoldings,
} from './schedule.statements.js';

/**
 * The schedules one ledger transaction works on: each student's load row locked once (after the course
 * rows), their schedule as the rules change it in memory, and at the end the rows that changed, written
 * in the transaction's last statement.
 */
export class ScheduleBook {
  private readonly locked = new Map<
    string,
    { stored: StudentSchedule; schedule: StudentSchedule; isNew: boolean }
  >();

  /**
   * `needsHoldings` may spare the read of a student's holdings (enrolled courses, overrides) where they
   * cannot matter to anything the transaction will do (no course with meetings or credits, no limit in
   * force). It is the transaction's one answer: a schedule read without its holdings is never judged later
   * by a rule that needs them.
   */
  constructor(
    private readonly manager: EntityManager,
    private readonly defaults: ScheduleDefaults,
    private readonly needsHoldings: (schedule: StudentSchedule) => boolean = () => true,
    /** Create missing rows when locking (true), or insert them with the transaction's write. */
    private readonly createRows = true,
  ) {}

  /** Locks the load rows of the students not locked yet and reads their holdings (where needed). */
  async lock(studentIds: Iterable<string>): Promise<void> {
    const needsHoldings = this.needsHoldings;
    const missing = [...new Set(studentIds)].filter((id) => !this.locked.has(id)).sort();
    if (missing.length === 0) return;
    const loads = await lockLoads(this.manager, missing, this.defaults, this.createRows);
    // A student without a row has decided nothing that holdings could show: every path that leaves them
    // holding a course with meetings or credits, or an override, creates their row.
    const reading = [...loads.values()].filter((load) => !load.isNew && needsHoldings(load.schedule));
    const holdings = await readHoldings(
      this.manager,
      reading.map((load) => load.schedule.studentId),
    );
    for (const [studentId, load] of loads) {
      this.locked.set(studentId, {
        stored: load.stored,
        schedule: withHoldings(load.schedule, holdings),
        isNew: load.isNew,
      });
    }
  }

  /**
   * Schedules read without locking, for students the transaction does not hold: good enough to pass over
   * a blocked waiting request (a block lifts only in a transaction that holds the course's lock, which
   * the caller holds), never to promote one.
   */
  async peek(studentIds: readonly string[]): Promise<Map<string, StudentSchedule>> {
    const peeked = new Map<string, StudentSchedule>();
    const unlocked = [...new Set(studentIds)].filter((id) => !this.locked.has(id));
    for (const id of studentIds) if (this.locked.has(id)) peeked.set(id, this.get(id));
    if (unlocked.length === 0) return peeked;
    for (const [id, schedule] of await readSchedules(this.manager, unlocked, this.defaults)) {
      peeked.set(id, schedule);
    }
    return peeked;
  }

  /** A locked student's schedule as it stands in this transaction. */
  get(studentId: string): StudentSchedule {
    const entry = this.locked.get(studentId);
    if (!entry) throw new Error(`student ${studentId}'s load row is not locked in this transaction`);
    return entry.schedule;
  }

  set(schedule: StudentSchedule): void {
    const entry = this.locked.get(schedule.studentId);
    if (!entry) throw new Error(`student ${schedule.studentId}'s load row is not locked in this transaction`);
    entry.schedule = schedule;
  }

  /** Every locked schedule, as a map the pure rules may update. */
  schedules(): Map<string, StudentSchedule> {
    return new Map([...this.locked].map(([id, entry]) => [id, entry.schedule]));
  }

  /** Takes back a map the rules updated. */
  update(schedules: ReadonlyMap<string, StudentSchedule>): void {
    for (const schedule of schedules.values()) this.set(schedule);
  }

  /** The load rows that changed, to write. */
  writes(): LoadWrite[] {
    return [...this.locked.values()]
      .filter((entry) => entry.isNew || loadChanged(entry.stored, entry.schedule))
      .map((entry) => ({ ...loadWriteOf(entry.schedule), isNew: entry.isNew }));
  }
}
