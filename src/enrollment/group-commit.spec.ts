import { GroupCommit } from './group-commit.js';

/** A flush the test releases by hand, recording every batch it was given. */
function controlledFlush() {
  const batches: Array<{ lane: string; items: number[] }> = [];
  const pending: Array<() => void> = [];
  let failNext = false;
  const flush = (lane: string, items: number[]) => {
    batches.push({ lane, items });
    const fail = failNext;
    failNext = false;
    return new Promise<string[]>((resolve, reject) =>
      pending.push(() =>
        fail ? reject(new Error('store failed')) : resolve(items.map((item) => `${lane}:${item}`)),
      ),
    );
  };
  return {
    flush,
    batches,
    failNextFlush: () => (failNext = true),
    /** Lets the oldest running flush finish, then gives the lane a turn to start its next one. */
    release: async () => {
      pending.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe('GroupCommit', () => {
  it('flushes a lone item at once and resolves it with its result', async () => {
    const control = controlledFlush();
    const commits = new GroupCommit(control.flush, 10);
    const result = commits.submit('a', 1);
    expect(control.batches).toEqual([{ lane: 'a', items: [1] }]);
    await control.release();
    await expect(result).resolves.toBe('a:1');
  });

  it('gathers what arrives during a flush into the next one, in submission order', async () => {
    const control = controlledFlush();
    const commits = new GroupCommit(control.flush, 10);
    const results = [1, 2, 3, 4].map((item) => commits.submit('a', item));
    expect(control.batches).toEqual([{ lane: 'a', items: [1] }]);
    await control.release();
    expect(control.batches[1]).toEqual({ lane: 'a', items: [2, 3, 4] });
    await control.release();
    await expect(Promise.all(results)).resolves.toEqual(['a:1', 'a:2', 'a:3', 'a:4']);
  });

  it('never puts more than maxBatch items in one flush', async () => {
    const control = controlledFlush();
    const commits = new GroupCommit(control.flush, 2);
    const results = [1, 2, 3, 4, 5, 6].map((item) => commits.submit('a', item));
    for (let flushes = 0; flushes < 4; flushes += 1) await control.release();
    await Promise.all(results);
    expect(control.batches.map(({ items }) => items)).toEqual([[1], [2, 3], [4, 5], [6]]);
  });

  it('rejects only the items of a failing flush, and the lane goes on', async () => {
    const control = controlledFlush();
    const commits = new GroupCommit(control.flush, 10);
    const first = commits.submit('a', 1);
    control.failNextFlush(); // the second flush (items 2 and 3) will fail
    const failing = [2, 3].map((item) =>
      commits.submit('a', item).then(
        () => 'resolved',
        (error: Error) => error.message,
      ),
    );
    await control.release();
    const last = commits.submit('a', 4);
    await control.release();
    await control.release();
    await expect(first).resolves.toBe('a:1');
    await expect(Promise.all(failing)).resolves.toEqual(['store failed', 'store failed']);
    await expect(last).resolves.toBe('a:4');
    expect(control.batches.map(({ items }) => items)).toEqual([[1], [2, 3], [4]]);
  });

  it('runs lanes side by side: a slow lane does not hold another', async () => {
    const control = controlledFlush();
    const commits = new GroupCommit(control.flush, 10);
    const slow = commits.submit('a', 1);
    const other = commits.submit('b', 2);
    expect(control.batches).toEqual([
      { lane: 'a', items: [1] },
      { lane: 'b', items: [2] },
    ]);
    await control.release();
    await control.release();
    await expect(Promise.all([slow, other])).resolves.toEqual(['a:1', 'b:2']);
  });
});
