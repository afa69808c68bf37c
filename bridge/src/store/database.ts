import { dirname } from "node:path";
import { openSqlite, type SqliteDb } from "@latchkey/runtime";
import type Database from "better-sqlite3";
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

type Statement = Database.Statement<[], unknown>;

/**
 * Each connection's `synchronous` pragmas, prepared once: `db.pragma` compiles its statement on every call, and
 * `withoutSync` runs three around every group commit and every delete of uploaded items.
 */
const syncPragmas = new WeakMap<Db, { read: Statement; normal: Statement; set: Map<number, Statement> }>();

function pragmasOf(db: Db): { read: Statement; normal: Statement; set: Map<number, Statement> } {
  let p = syncPragmas.get(db);
  if (!p) {
    p = {
      read: db.prepare<[]>("PRAGMA synchronous").pluck(),
      normal: db.prepare<[]>("PRAGMA synchronous = NORMAL"),
      set: new Map(),
    };
    syncPragmas.set(db, p);
  }
  return p;
}

/**
 * Runs `work` with `synchronous = NORMAL` (no fsync in its commit), then restores the connection's setting. For
 * writes whose loss on power failure is harmless, so they do not block the event loop on the disk.
 */
export function withoutSync<T>(db: Db, work: () => T): T {
  const pragmas = pragmasOf(db);
  const previous = pragmas.read.get() as number;
  if (previous <= 1) return work();
  pragmas.normal.run();
  try {
    return work();
  } finally {
    let restore = pragmas.set.get(previous);
    if (!restore) {
      // An integer from SQLite itself (2 FULL, 3 EXTRA), never outside text.
      restore = db.prepare<[]>(`PRAGMA synchronous = ${Math.trunc(previous)}`);
      pragmas.set.set(previous, restore);
    }
    restore.run();
  }
}
