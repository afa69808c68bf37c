/**
 * The lock's report counter (docs/reports.md "Counter"): one sequence across events and telemetry, strictly increasing
 * from 1, never reused. Protocol does no I/O: the lock makes `next()`'s value durable (with the report it numbers)
 * before it publishes, and restores the last durable value at boot, so a restart never reuses a number.
 */
export class ReportCounter {
  #last: number;

  /** `last`: the highest counter already used (0 for a new lock). */
  constructor(last = 0) {
    if (!Number.isSafeInteger(last) || last < 0)
      throw new RangeError("the last report counter must be a safe integer >= 0");
    this.#last = last;
  }

  get last(): number {
    return this.#last;
  }

  next(): number {
    if (this.#last >= Number.MAX_SAFE_INTEGER) throw new RangeError("report counter exhausted");
    this.#last += 1;
    return this.#last;
  }
}
