interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit per lane. An item submitted to an idle lane is flushed at once; items submitted while the
 * lane's flush runs wait and go together in the next flush, at most maxBatch at a time. A lane runs one flush
 * at a time, so batches keep the order items were submitted in; lanes do not wait for each other.
 */
export class GroupCommit<Item, Result> {
  private readonly lanes = new Map<string, Array<Waiting<Item, Result>>>();

  /**
   * flush stores one batch of one lane and returns one result per item, in the batch's order; if it
   * throws, every item of that batch is rejected with the error, and the lane goes on with the next batch.
   */
  constructor(
    private readonly flush: (lane: string, batch: Item[]) => Promise<Result[]>,
    private readonly maxBatch: number,
  ) {}

  submit(lane: string, item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      const waiting = this.lanes.get(lane);
      if (waiting) {
        waiting.push({ item, resolve, reject });
        return;
      }
      const fresh = [{ item, resolve, reject }];
      this.lanes.set(lane, fresh);
      void this.drain(lane, fresh);
    });
  }

  private async drain(lane: string, waiting: Array<Waiting<Item, Result>>): Promise<void> {
    while (waiting.length > 0) {
      const batch = waiting.splice(0, this.maxBatch);
      try {
        const results = await this.flush(
          lane,
          batch.map(({ item }) => item),
        );
        batch.forEach(({ resolve }, index) => resolve(results[index]));
      } catch (error) {
        for (const { reject } of batch) reject(error);
      }
    }
    this.lanes.delete(lane);
  }
}
