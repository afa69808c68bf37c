import { join } from "node:path";
import { openSqlite } from "@latchkey/runtime";
import type Database from "better-sqlite3";
import { DATA_FILE_MODE, type ModeFix, restrictDataDir } from "../../security/file-modes.js";
import { repositories } from "../repositories/index.js";
import type { Store, Tx } from "../store.js";
import { MIGRATIONS } from "./migrations.js";
import { SqliteSql } from "./sql.js";

export const DATABASE_FILE = "cloud.sqlite";
/** The database and the files SQLite keeps beside it in WAL mode. */
export const DATABASE_FILES = [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`] as const;

/**
 * The Store on one better-sqlite3 connection in WAL mode, for one cloud process. better-sqlite3 is synchronous, but
 * the Store interface is async (PostgreSQL is not), so a transaction's callback can await between statements: a queue
 * lets one transaction run at a time on the connection, and BEGIN IMMEDIATE / COMMIT / ROLLBACK bracket it.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly tx: Tx;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Modes found wider than 0700 (the directory) and 0600 (the database files) and narrowed: the caller logs them. */
  readonly modeFixes: ModeFix[];

  constructor(dataDir: string) {
    this.modeFixes = restrictDataDir(dataDir, DATABASE_FILES);
    // Created with 0600 (the umask can only narrow it), not by SQLite with 0644: SQLite then gives the -wal and -shm
    // files it creates the database file's mode. One open-and-migrate for every SQLite file of ours (@latchkey/runtime).
    // synchronous = FULL: a COMMIT is on disk before the cloud answers. At NORMAL (WAL) a power loss rolls back the
    // last commits after their answer: reports the bridge then deleted from its outbox and locks freed on the signed
    // ack, a revocation the integrator was told is done (docs/reports.md "Durability"). ~0.3 ms per commit here; an
    // upload of 1,000 reports is one commit.
    this.db = openSqlite(join(dataDir, DATABASE_FILE), {
      pragmas: ["journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "busy_timeout = 5000"],
      migrations: MIGRATIONS,
      fileMode: DATA_FILE_MODE,
      owner: "this cloud knows (upgrade latchkey-cloud)",
    });
    // SQLite gave any -wal and -shm file it created the database's mode: checked again rather than assumed.
    this.modeFixes.push(...restrictDataDir(dataDir, DATABASE_FILES));
    this.tx = repositories(new SqliteSql(this.db));
  }

  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new Error("the store is closed");
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const result = await work(this.tx);
        this.db.exec("COMMIT");
        return result;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  watchChanges(): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {
    await this.queue;
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
