import { dirname } from "node:path";
import { openSqlite, type SqliteDb } from "@latchkey/runtime";
import { ensurePrivateDatabase, ensurePrivateDir, type ModeReport } from "./private-files.js";

export type Db = SqliteDb;

export interface OpenOptions {
  /** full: every commit survives power loss; normal: survives a process crash (WAL). */
  synchronous: "full" | "normal";
  migrations: readonly string[];
  /** Told of every directory or file whose mode was wider than 0700 / 0600 and was narrowed (the caller logs it). */
  onModeNarrowed?: ModeReport;
}

/**
 * Opens (creating) a SQLite file in WAL mode and brings its schema up to date (runtime's openSqlite). Its directory is
 * 0700 and the file (with its `-wal` and `-shm`) 0600, narrowed if wider (store/private-files.ts).
 */
export function openDatabase(path: string, options: OpenOptions): Db {
  const report = options.onModeNarrowed ?? (() => {});
  ensurePrivateDir(dirname(path), report);
  ensurePrivateDatabase(path, report);
  return openSqlite(path, {
    pragmas: [
      "journal_mode = WAL",
      `synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`,
      "foreign_keys = ON",
      // The bridge is the only writer; another process holding the file (an operator's sqlite3 shell, a backup tool)
      // is waited for this long. better-sqlite3 waits synchronously, so the event loop stands still meanwhile: short.
      "busy_timeout = 1000",
    ],
    migrations: options.migrations,
    owner: "this bridge",
  });
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
