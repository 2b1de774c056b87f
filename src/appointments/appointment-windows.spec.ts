import { jest } from '@jest/globals';
import { AppointmentWindows } from './appointment-windows.js';
import type { AppointmentWindow } from './dto/appointment-batch.js';

const window = (opensAt: string): AppointmentWindow => ({ opensAt: new Date(opensAt), closesAt: null });

/** A fake student_appointments table behind one query per call, and a clock the test moves. */
function world(table: Record<string, AppointmentWindow> = {}) {
  const clock = { now: 1_000_000 };
  const queries: string[][] = [];
  let failNext: Error | undefined;
  let release: (() => void) | undefined;
  const query = jest.fn(async (ids: string[]) => {
    queries.push(ids);
    if (failNext) {
      const error = failNext;
      failNext = undefined;
      throw error;
    }
    // Read now, answer once the test lets the query finish (if it holds it).
    const found = new Map(ids.filter((id) => table[id]).map((id) => [id, table[id]]));
    if (release === null) await new Promise<void>((resolve) => (release = resolve));
    return found;
  });
  const windows = new AppointmentWindows(query, 5000, () => clock.now);
  return {
    windows,
    queries,
    table,
    clock,
    failWith: (error: Error) => (failNext = error),
    /** The next query is held until the returned function is called. */
    hold: () => {
      release = null as unknown as undefined;
      return () => release!();
    },
  };
}

describe('AppointmentWindows', () => {
  it('answers 50 students asking at once with one query, then from memory within the TTL', async () => {
    const table = Object.fromEntries(
      Array.from({ length: 25 }, (_, index) => [`s-${index}`, window('2026-12-14T09:00:00Z')]),
    );
    const { windows, queries, clock } = world(table);
    const students = Array.from({ length: 50 }, (_, index) => `s-${index}`);
    const found = await Promise.all(students.map((student) => windows.of(student)));
    expect(queries).toHaveLength(1);
    expect([...queries[0]].sort()).toEqual([...students].sort());
    expect(found.filter((answer) => answer === null)).toHaveLength(25);
    expect(found[0]).toEqual(window('2026-12-14T09:00:00Z'));

    clock.now += 4999;
    await Promise.all(students.map((student) => windows.of(student)));
    expect(queries).toHaveLength(1);
  });

  it('shares one query among many lookups of one student', async () => {
    const { windows, queries } = world({ 's-1': window('2026-12-14T09:00:00Z') });
    await Promise.all(Array.from({ length: 100 }, () => windows.of('s-1')));
    expect(queries).toEqual([['s-1']]);
  });

  it('remembers that a student has no appointment, and asks again once the TTL has passed', async () => {
    const { windows, queries, table, clock } = world();
    expect(await windows.of('s-1')).toBeNull();
    expect(await windows.of('s-1')).toBeNull();
    expect(queries).toHaveLength(1);
    table['s-1'] = window('2026-12-14T09:00:00Z');
    clock.now += 5000;
    expect(await windows.of('s-1')).toEqual(window('2026-12-14T09:00:00Z'));
    expect(queries).toHaveLength(2);
  });

  it('forgets a student at once when told, and only that student', async () => {
    const { windows, queries, table } = world({ 's-1': window('2026-12-14T09:00:00Z') });
    await Promise.all([windows.of('s-1'), windows.of('s-2')]);
    table['s-1'] = window('2026-12-15T09:00:00Z');
    windows.forget(['s-1']);
    expect(await windows.of('s-1')).toEqual(window('2026-12-15T09:00:00Z'));
    expect(await windows.of('s-2')).toBeNull();
    expect(queries).toEqual([['s-1', 's-2'], ['s-1']]);
  });

  it('does not remember, nor share, a read that began before a write', async () => {
    const setup = world({ 's-1': window('2026-12-14T09:00:00Z') });
    const { windows, queries, table } = setup;
    const release = setup.hold();
    const before = windows.of('s-1');
    await new Promise((resolve) => setImmediate(resolve));
    expect(queries).toHaveLength(1);
    // The write commits and forgets the student while the first read is still out.
    table['s-1'] = window('2026-12-15T09:00:00Z');
    windows.forget(['s-1']);
    const after = windows.of('s-1');
    release();
    expect(await before).toEqual(window('2026-12-14T09:00:00Z'));
    expect(await after).toEqual(window('2026-12-15T09:00:00Z'));
    expect(await windows.of('s-1')).toEqual(window('2026-12-15T09:00:00Z'));
    expect(queries).toHaveLength(2);
  });

  it('fails every lookup of a failed query, remembers nothing, and asks again next time', async () => {
    const setup = world({ 's-1': window('2026-12-14T09:00:00Z') });
    setup.failWith(new Error('connection lost'));
    const results = await Promise.allSettled([setup.windows.of('s-1'), setup.windows.of('s-2')]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(await setup.windows.of('s-1')).toEqual(window('2026-12-14T09:00:00Z'));
    expect(setup.queries).toHaveLength(2);
  });

  it('splits a turn of more than 1000 students into queries of at most 1000', async () => {
    const { windows, queries } = world();
    await Promise.all(Array.from({ length: 2500 }, (_, index) => windows.of(`s-${index}`)));
    expect(queries.map((ids) => ids.length)).toEqual([1000, 1000, 500]);
  });

  it('remembers nothing with a TTL of 0, yet still batches', async () => {
    const query = jest.fn(async () => new Map<string, AppointmentWindow>());
    const windows = new AppointmentWindows(query, 0);
    await Promise.all([windows.of('s-1'), windows.of('s-2')]);
    await windows.of('s-1');
    expect(query).toHaveBeenCalledTimes(2);
  });
});
