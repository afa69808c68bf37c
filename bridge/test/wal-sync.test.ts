import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Db, openDatabase } from "../src/store/database.js";
import { WalSync } from "../src/store/wal-sync.js";
import { BatcherClosedError, WriteBatcher } from "../src/store/write-batcher.js";
import { tempDir } from "./helpers/fixtures.js";

const MIGRATIONS = ["CREATE TABLE t (n INTEGER PRIMARY KEY)"];

/** A WalSync whose syncs finish when the test says so (and which does run the real fdatasync first). */
class HeldSync extends WalSync {
  readonly held: Array<() => void> = [];
  override sync(): Promise<void> {
    return super.sync().then(() => new Promise<void>((resolve) => this.held.push(resolve)));
  }
}

describe("group commit with the WAL synced off the event loop (outbox.synchronous: full)", () => {
  let dir: ReturnType<typeof tempDir>;
  let db: Db;
  let path: string;
  beforeEach(() => {
    dir = tempDir();
    path = join(dir.path, "bridge.db");
    db = openDatabase(path, { synchronous: "full", migrations: MIGRATIONS });
  });
  afterEach(() => {
    db.close();
    dir.remove();
  });

  // fdatasync runs on the thread pool: on a busy machine it may take a while, so poll with a deadline.
  const until = async (check: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(check()).toBe(true);
  };

  it("tells a writer only after the sync of its commit, and keeps the connection at FULL", async () => {
    const wal = new HeldSync(path);
    const batcher = new WriteBatcher(db, wal);
    let told = false;
    const written = batcher
      .run(() => db.prepare("INSERT INTO t VALUES (1)").run())
      .then(() => {
        told = true;
      });
    await until(() => wal.held.length === 1);
    // Committed (another connection sees it) but not yet acknowledged: the sync has not finished.
    const reader = new Database(path, { readonly: true });
    expect(reader.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 1 });
    reader.close();
    expect(told).toBe(false);
    let drained = false;
    const drain = batcher.drain().then(() => {
      drained = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
    wal.held[0]!();
    await written;
    await drain;
    expect(told).toBe(true);
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
  });

  it("a failed sync fails every writer of the group (nothing is acknowledged that may not be on disk)", async () => {
    const batcher = new WriteBatcher(db, new WalSync(join(dir.path, "missing.db")));
    const writes = [1, 2].map((n) => batcher.run(() => db.prepare("INSERT INTO t VALUES (?)").run(n)));
    for (const w of writes) await expect(w).rejects.toMatchObject({ code: "ENOENT" });
    await batcher.drain();
  });

  it("syncs the real WAL file", async () => {
    const batcher = new WriteBatcher(db, new WalSync(path));
    await Promise.all([3, 4, 5].map((n) => batcher.run(() => db.prepare("INSERT INTO t VALUES (?)").run(n))));
    expect(db.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 3 });
  });
});

describe("a write batcher closed before its database", () => {
  it("refuses writes asked for after close, and never touches the closed database from its timer", async () => {
    const dir = tempDir();
    const db = openDatabase(join(dir.path, "bridge.db"), { synchronous: "full", migrations: MIGRATIONS });
    const batcher = new WriteBatcher(db, new WalSync(join(dir.path, "bridge.db")));
    await batcher.run(() => db.prepare("INSERT INTO t VALUES (1)").run());
    batcher.close();
    db.close();
    // A lock's last will arriving while the bridge stops: before the fix its flush ran on a closed connection from a
    // setImmediate and threw outside any promise (an uncaught TypeError that ended the process).
    await expect(batcher.run(() => db.prepare("INSERT INTO t VALUES (2)").run())).rejects.toBeInstanceOf(
      BatcherClosedError,
    );
    await new Promise((resolve) => setImmediate(resolve));
    dir.remove();
  });
});
