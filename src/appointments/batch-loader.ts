/** Loads values for many keys in one call; a key it does not return has no value. */
export type LoadMany<K, V> = (keys: K[]) => Promise<Map<K, V>>;

interface Waiting<V> {
  promise: Promise<V | undefined>;
  resolve(value: V | undefined): void;
  reject(error: unknown): void;
}

/** Most keys one load is given; a larger turn's keys go in several loads, each a bounded statement. */
const MAX_KEYS_PER_LOAD = 1000;

/**
 * DataLoader's batching, without its cache or a dependency: every key asked for in one turn of the event
 * loop is loaded by one call of `loadMany`, dispatched once the turn's I/O callbacks have run
 * (setImmediate), so requests of many students that arrive together cost one query, not one each. A key
 * asked for again while its load is pending or in flight shares that load. forget() cuts a key loose from a
 * load already sent, so a lookup after a write never takes an answer read before it.
 */
export class BatchLoader<K, V> {
  /** Keys for the next dispatch. */
  private readonly queued = new Map<K, Waiting<V>>();
  /** Keys whose load has been sent and not answered yet. */
  private readonly inFlight = new Map<K, Promise<V | undefined>>();
  private dispatchScheduled = false;

  constructor(
    private readonly loadMany: LoadMany<K, V>,
    private readonly maxKeysPerLoad = MAX_KEYS_PER_LOAD,
  ) {}

  load(key: K): Promise<V | undefined> {
    const shared = this.inFlight.get(key) ?? this.queued.get(key)?.promise;
    if (shared) return shared;
    const waiting = waiter<V>();
    this.queued.set(key, waiting);
    if (!this.dispatchScheduled) {
      this.dispatchScheduled = true;
      setImmediate(() => this.dispatch());
    }
    return waiting.promise;
  }

  /** Later loads of these keys ask again instead of sharing a load sent before now. */
  forget(keys: Iterable<K>): void {
    for (const key of keys) this.inFlight.delete(key);
  }

  private dispatch(): void {
    this.dispatchScheduled = false;
    const batch = [...this.queued];
    this.queued.clear();
    for (let start = 0; start < batch.length; start += this.maxKeysPerLoad) {
      this.send(batch.slice(start, start + this.maxKeysPerLoad));
    }
  }

  private send(batch: Array<[K, Waiting<V>]>): void {
    for (const [key, waiting] of batch) this.inFlight.set(key, waiting.promise);
    const settled = ([key, waiting]: [K, Waiting<V>]) => {
      if (this.inFlight.get(key) === waiting.promise) this.inFlight.delete(key);
      return waiting;
    };
    // A loadMany that throws instead of rejecting fails its batch the same way.
    new Promise<Map<K, V>>((resolve) => resolve(this.loadMany(batch.map(([key]) => key)))).then(
      (found) => {
        for (const entry of batch) settled(entry).resolve(found.get(entry[0]));
      },
      (error: unknown) => {
        for (const entry of batch) settled(entry).reject(error);
      },
    );
  }
}

function waiter<V>(): Waiting<V> {
  let resolve!: (value: V | undefined) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<V | undefined>((resolveWith, rejectWith) => {
    resolve = resolveWith;
    reject = rejectWith;
  });
  return { promise, resolve, reject };
}
