import { closeSync, openSync } from "node:fs";
import Database from "better-sqlite3";

export type SqliteDb = Database.Database;

/** One schema step: SQL text, or code for what SQL alone cannot say (a column that may or may not exist yet). */
export type Migration = string | ((db: SqliteDb) => void);

export interface OpenSqliteOptions {
  /**
   * Run in this order right after the open, before any migration. Order matters: `locking_mode = EXCLUSIVE` must come
   * before `journal_mode = WAL` for SQLite to keep the WAL index in memory rather than in a shared `-shm` file.
   */
  pragmas: readonly string[];
  /** Migration i takes the schema from version i to i + 1 (`PRAGMA user_version`). */
  migrations: readonly Migration[];
  /**
   * Creates the file with this mode when it is absent, before SQLite does: SQLite would create it 0644 and then give
   * its `-wal` and `-shm` the same mode, readable by every local user.
   */
  fileMode?: number;
  /** better-sqlite3's busy wait while opening, in ms (its default is 5000). */
  timeoutMs?: number;
  /** Who knows the schema, for the error naming a newer file (e.g. "this bridge"). */
  owner: string;
}

/** The file was written by a newer release: opening it with older code would misread or damage it. */
export class SchemaTooNewError extends Error {
  constructor(
    readonly path: string,
    readonly found: number,
    readonly known: number,
    owner: string,
  ) {
    super(`${path} has schema version ${found}, newer than ${owner} (${known})`);
    this.name = "SchemaTooNewError";
  }
}

/**
 * Opens (creating) a SQLite file, sets its pragmas and brings its schema up to date: each migration in its own
 * transaction with the version it reaches, so a crash leaves the file at a version it can resume from. The connection
 * is closed again when any of it fails.
 */
export function openSqlite(path: string, options: OpenSqliteOptions): SqliteDb {
  // The mode applies only when the file is created; an existing one keeps its own (the caller checks it).
  if (options.fileMode !== undefined) closeSync(openSync(path, "a", options.fileMode));
  const db = new Database(path, options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs });
  try {
    for (const pragma of options.pragmas) db.pragma(pragma);
    migrate(db, path, options);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** Runs the migrations `db` has not had yet; answers the version it is at. */
export function migrate(db: SqliteDb, path: string, options: Pick<OpenSqliteOptions, "migrations" | "owner">): number {
  const { migrations } = options;
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > migrations.length) throw new SchemaTooNewError(path, current, migrations.length, options.owner);
  for (let version = current; version < migrations.length; version++) {
    const step = migrations[version]!;
    db.transaction(() => {
      if (typeof step === "string") db.exec(step);
      else step(db);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return migrations.length;
}
