import { dirname } from "node:path";
import Database from "better-sqlite3";
import { ensurePrivateDatabase, ensurePrivateDir, type ModeReport } from "./private-files.js";

export type Db = Database.Database;

export interface OpenOptions {
  /** full: every commit survives power loss; normal: survives a process crash (WAL). */
  synchronous: "full" | "normal";
  migrations: readonly string[];
  /** Told of every directory or file whose mode was wider than 0700 / 0600 and was narrowed (the caller logs it). */
  onModeNarrowed?: ModeReport;
}

/**
 * Opens (creating) a SQLite file in WAL mode and brings its schema up to date. Migrations are a list of SQL scripts;
 * `user_version` counts how many have run, each one runs in its own transaction. Its directory is 0700 and the file
 * (with its `-wal` and `-shm`) 0600, narrowed if wider (store/private-files.ts).
 */
export function openDatabase(path: string, options: OpenOptions): Db {
  const report = options.onModeNarrowed ?? (() => {});
  ensurePrivateDir(dirname(path), report);
  ensurePrivateDatabase(path, report);
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
    db.pragma("foreign_keys = ON");
    // The bridge is the only writer; another process holding the file (an operator's sqlite3 shell, a backup tool)
    // is waited for this long. better-sqlite3 waits synchronously, so the event loop stands still meanwhile: short.
    db.pragma("busy_timeout = 1000");
    const current = db.pragma("user_version", { simple: true }) as number;
    if (current > options.migrations.length)
      throw new Error(`${path} has schema version ${current}, newer than this bridge (${options.migrations.length})`);
    for (let v = current; v < options.migrations.length; v++) {
      db.transaction(() => {
        db.exec(options.migrations[v]!);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * Runs `work` with `synchronous = NORMAL` (no fsync in its commit), then restores the connection's setting. For
 * writes whose loss on power failure is harmless, so they do not block the event loop on the disk.
 */
export function withoutSync<T>(db: Db, work: () => T): T {
  const previous = db.pragma("synchronous", { simple: true }) as number;
  if (previous <= 1) return work();
  db.pragma("synchronous = NORMAL");
  try {
    return work();
  } finally {
    db.pragma(`synchronous = ${previous}`);
  }
}
