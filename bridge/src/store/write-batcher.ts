import { type Db, withoutSync } from "./database.js";
import type { WalSync } from "./wal-sync.js";

interface Pending {
  work: () => void;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit: writes requested in the same turn of the event loop run in one SQLite transaction (one fsync), and
 * each caller's promise resolves only after that transaction committed. This is what lets the bridge answer a lock's
 * PUBACK only once its message is on disk, at thousands of messages per second. Each write runs in its own savepoint,
 * so one failing write rejects alone and the others still commit.
 *
 * With a `WalSync` (outbox.synchronous: full) a group commits at `synchronous = NORMAL` and its callers are resolved
 * only after the WAL was synced off the event loop: the same guarantee as a FULL commit, without the loop waiting for
 * the disk while the next packets queue up.
 */
export class WriteBatcher {
  private queue: Pending[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  private flushed: Array<() => void> = [];
  private syncing = 0;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly walSync: WalSync | null = null,
  ) {}

  run(work: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new BatcherClosedError());
    return new Promise((resolve, reject) => {
      this.queue.push({ work, resolve, reject });
      if (!this.scheduled) this.scheduled = setImmediate(() => this.flush());
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  /**
   * No write after this: the database is about to close. A write asked for later (a lock's last will arriving while
   * the bridge stops) is refused with BatcherClosedError instead of reaching a closed connection from a timer, where
   * the error would be uncaught and end the process.
   */
  close(): void {
    this.flush();
    this.closed = true;
  }

  /** Commits everything queued now. */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    const batch = this.queue;
    this.queue = [];
    if (this.closed) {
      for (const p of batch) p.reject(new BatcherClosedError());
      this.notifyFlushed();
      return;
    }
    if (batch.length > 0) {
      const outcomes = this.commit(batch);
      if (outcomes === "failed") return;
      const settle = () =>
        batch.forEach((p, i) => {
          const outcome = outcomes?.[i];
          if (outcome === undefined || outcome === null) p.resolve();
          else p.reject(outcome);
        });
      if (this.walSync) {
        this.syncing++;
        void this.walSync
          .sync()
          .then(settle, (e: unknown) => {
            // Not known to be on disk: nobody may act as if it were (a lock keeps an event it got no PUBACK for).
            for (const p of batch) p.reject(e);
          })
          .finally(() => {
            this.syncing--;
            this.notifyFlushed();
          });
        return;
      }
      settle();
    }
    this.notifyFlushed();
  }

  /**
   * Fast path: all writes in one transaction. If one throws, the transaction rolls back and the batch runs again with
   * a savepoint per write, so only the failing one is rejected. Answers per-write errors (or null when none failed),
   * or "failed" when the commit itself failed (everything rejected).
   */
  private commit(batch: Pending[]): Array<unknown | null> | null | "failed" {
    // Without the fsync in the commit; WalSync makes it durable before anyone is told.
    return this.walSync ? withoutSync(this.db, () => this.commitGroup(batch)) : this.commitGroup(batch);
  }

  private commitGroup(batch: Pending[]): Array<unknown | null> | null | "failed" {
    try {
      this.db.transaction(() => {
        for (const p of batch) p.work();
      })();
      return null;
    } catch (e) {
      // The database itself is unavailable (locked by another process, disk full, I/O error): every write would fail
      // the same way, each after its own busy timeout, with the event loop blocked all along. Refuse the batch at once.
      if (isDatabaseLevelError(e)) {
        for (const p of batch) p.reject(e);
        this.notifyFlushed();
        return "failed";
      }
      // fall through: find the failing write(s)
    }
    const outcomes: Array<unknown | null> = new Array(batch.length).fill(null);
    try {
      this.db.transaction(() => {
        batch.forEach((p, i) => {
          try {
            this.db.transaction(p.work)();
          } catch (e) {
            outcomes[i] = e ?? new Error("write failed");
          }
        });
      })();
    } catch (e) {
      // The commit itself failed (disk full, I/O error): nothing of the batch is durable.
      for (const p of batch) p.reject(e);
      this.notifyFlushed();
      return "failed";
    }
    return outcomes;
  }

  /** Resolves once everything queued so far has been committed and synced (or failed). */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.syncing === 0) return Promise.resolve();
    return new Promise((resolve) => this.flushed.push(resolve));
  }

  private notifyFlushed(): void {
    if (this.queue.length > 0 || this.syncing > 0) return;
    const waiting = this.flushed;
    this.flushed = [];
    for (const w of waiting) w();
  }
}

/** A write asked for after the bridge closed its database (it is stopping): nothing was written. */
export class BatcherClosedError extends Error {
  constructor() {
    super("the bridge is stopping: its database is closed, nothing was written");
    this.name = "BatcherClosedError";
  }
}

/** SQLite result codes that concern the whole database, not one write (a constraint, a bad value). */
const DATABASE_LEVEL = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB|PROTOCOL|NOMEM)/;

function isDatabaseLevelError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && DATABASE_LEVEL.test(code);
}
