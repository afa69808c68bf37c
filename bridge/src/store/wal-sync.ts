import { close, fdatasync, open } from "node:fs";

/**
 * Power-loss durability for group commits without blocking the event loop. With `synchronous = FULL`, SQLite fsyncs
 * the WAL inside every commit, on the main thread: under load the bridge then spends much of its time waiting for the
 * disk instead of reading the next packets. A group commit instead runs at `synchronous = NORMAL` (its frames are
 * written to the WAL, not yet synced) and then waits here for an `fdatasync` of the WAL file, which libuv runs on its
 * thread pool. Only a sync that *started* after a commit covers it, so each caller is resolved by the first sync that
 * starts after it asked; callers arriving while a sync runs share the next one. SQLite syncs the WAL itself before any
 * checkpoint copies its frames into the database, so a frame that was synced here or checkpointed is on disk.
 */
export class WalSync {
  private queued: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private running = false;
  private readonly walPath: string;

  constructor(databasePath: string) {
    this.walPath = `${databasePath}-wal`;
  }

  /** Resolves once everything committed before this call is on disk. */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ resolve, reject });
      this.next();
    });
  }

  private next(): void {
    if (this.running || this.queued.length === 0) return;
    const waiting = this.queued;
    this.queued = [];
    this.running = true;
    const done = (error: NodeJS.ErrnoException | null) => {
      this.running = false;
      for (const w of waiting) {
        if (error) w.reject(error);
        else w.resolve();
      }
      this.next();
    };
    // Opened per sync: the WAL file stays while the database is open, and no descriptor outlives a close.
    open(this.walPath, "r", (openError, fd) => {
      if (openError) return done(openError);
      fdatasync(fd, (syncError) => close(fd, () => done(syncError)));
    });
  }
}
