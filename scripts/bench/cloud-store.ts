import Database from "better-sqlite3";

/**
 * Reads what the cloud stored, straight from its SQLite file (read-only, beside the running cloud: WAL lets readers
 * in). "Stored in the cloud" is what the bench counts, not what the bridge believes it uploaded.
 */
export class CloudEventStore {
  private readonly db: Database.Database;
  private readonly countStmt: Database.Statement<[string], { n: number }>;
  private readonly highestStmt: Database.Statement<[], { n: number | null }>;

  constructor(dbPath: string) {
    this.db = new Database(dbPath, { readonly: true, fileMustExist: true });
    this.countStmt = this.db.prepare("SELECT count(*) AS n FROM events WHERE lock_holder_id = ?");
    this.highestStmt = this.db.prepare("SELECT max(n) AS n FROM events");
  }

  /** Exactly how many events of the lock holder are stored (reads the whole index range: not for tight loops). */
  count(lockHolderId: string): number {
    return this.countStmt.get(lockHolderId)!.n;
  }

  /**
   * Waits until at least `expected` events of the lock holder are stored. Polls the highest row number (one index
   * seek, an upper bound of the count) and counts exactly only once that bound is reached, so waiting costs the
   * machine next to nothing while the processes being measured work.
   */
  async waitForCount(lockHolderId: string, expected: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((this.highestStmt.get()!.n ?? 0) >= expected && this.count(lockHolderId) >= expected) return;
      if (Date.now() > deadline)
        throw new Error(
          `benchmark timed out waiting for ${expected} events at the cloud (${this.count(lockHolderId)})`,
        );
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Every stored event of the lock holder: id (hex), lock and seq. */
  events(lockHolderId: string): Array<{ id: string; lockId: string; seq: number }> {
    return this.db
      .prepare<[string], { id: string; lockId: string; seq: number }>(
        "SELECT id, lock_id AS lockId, seq FROM events WHERE lock_holder_id = ?",
      )
      .all(lockHolderId);
  }

  close(): void {
    this.db.close();
  }
}
