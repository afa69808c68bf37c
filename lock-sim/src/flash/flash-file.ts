import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Migration, openSqlite, SchemaTooNewError, type SqliteDb } from "@latchkey/runtime";

/**
 * The lock's flash: one SQLite file per data directory (`<dataDir>/flash.db`), partitioned by lock id.
 *
 * Why SQLite and not a file per lock: every state change a firmware makes (next event seq, the ring buffer, a sealed
 * report and its counter, the applied state) must land together or not at all, and a transaction gives that with no
 * hand-made write-ahead log. Why one file per directory and not per lock: an open SQLite connection costs about
 * 200 KB, so 1,000 locks each with their own file would need 200 MB; locks started on the same directory in one
 * process share one connection. WAL with synchronous=NORMAL survives the process being killed at any point (power loss
 * of the simulated lock); EXCLUSIVE locking keeps a second process from running the same locks from the same flash.
 */
/**
 * 2 added the identity and trust tables (issue 13). 3 is the signed path only (docs/trust.md "Lock"): the unsigned
 * sync's tables (issuers, revoked, grants) and columns (sync version, the RTC that a sync set) are gone, and each event
 * keeps its remote-command binding and its latest sealed report. An older file is brought to this shape in place
 * (`upgrade`); its lock partitions are then refused one by one at boot (FlashFormatError, lock/identity.ts), so the
 * message names the lock to factory reset, and a factory reset keeps the printed claim secret.
 */
const CHECKPOINT_INTERVAL_MS = 5000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS lock_state (
  lock TEXT PRIMARY KEY,
  next_seq INTEGER NOT NULL,
  dropped_total INTEGER NOT NULL,
  stamp_floor_ms INTEGER NOT NULL,
  battery_charge REAL NOT NULL,
  battery_idle_anchor_ms INTEGER NOT NULL,
  battery_state TEXT NOT NULL,
  actuator_state TEXT NOT NULL,
  jam_fault INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  lock TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id BLOB NOT NULL,
  ts INTEGER NOT NULL,
  type TEXT NOT NULL,
  key BLOB,
  code TEXT,
  dropped INTEGER NOT NULL DEFAULT 0,
  v INTEGER,
  cmd BLOB,
  ctr INTEGER,
  report BLOB,
  PRIMARY KEY (lock, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lock_identity (
  lock TEXT PRIMARY KEY,
  format INTEGER NOT NULL,
  claim_secret BLOB NOT NULL,
  identity_secret BLOB NOT NULL,
  agreement_secret BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lock_trust (
  lock TEXT PRIMARY KEY,
  authority BLOB,
  state BLOB,
  command_counter INTEGER NOT NULL,
  report_counter INTEGER NOT NULL,
  answer_time_ms INTEGER,
  answer_rtt_ms INTEGER,
  answer_local_ms INTEGER,
  iat_moved_s INTEGER,
  iat_local_ms INTEGER
) WITHOUT ROWID;
`;

/**
 * Brings a file written by an older lock-sim (schema 1 or 2) to schema 3 before SCHEMA runs, column by column, so it
 * also finishes an upgrade a crash interrupted. Nothing of a lock's identity is touched: its partitions are refused at
 * boot until a factory reset, which keeps the claim secret.
 */
function upgrade(db: SqliteDb): void {
  const columns = (table: string) =>
    new Set((db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name));
  db.transaction(() => {
    const state = columns("lock_state");
    if (state.size > 0) {
      for (const gone of ["sync_version", "clock_set", "rtc_anchor_ms", "base_anchor_ms"]) {
        if (state.has(gone)) db.exec(`ALTER TABLE lock_state DROP COLUMN ${gone}`);
      }
      if (state.has("rtc_floor_ms")) db.exec("ALTER TABLE lock_state RENAME COLUMN rtc_floor_ms TO stamp_floor_ms");
    }
    const events = columns("events");
    if (events.size > 0) {
      for (const added of ["cmd BLOB", "ctr INTEGER", "report BLOB"]) {
        if (!events.has(added.split(" ")[0]!)) db.exec(`ALTER TABLE events ADD COLUMN ${added}`);
      }
    }
    for (const table of ["issuers", "revoked", "grants"]) db.exec(`DROP TABLE IF EXISTS ${table}`);
  })();
}

export class FlashError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlashError";
  }
}

const openFiles = new Map<string, FlashFile>();

export class FlashFile {
  readonly path: string;
  readonly db: SqliteDb;
  private refs = 0;
  private readonly partitions = new Set<string>();
  private readonly checkpointTimer: NodeJS.Timeout;

  private constructor(path: string, db: SqliteDb) {
    this.path = path;
    this.db = db;
    // The WAL is folded into the database (the step that syncs to disk) on a timer, not by whichever commit happens to
    // cross the threshold: an unlock never waits for it.
    this.checkpointTimer = setInterval(() => this.checkpoint(), CHECKPOINT_INTERVAL_MS);
    this.checkpointTimer.unref();
  }

  private checkpoint(): void {
    try {
      this.db.pragma("wal_checkpoint(PASSIVE)");
    } catch {
      // a checkpoint that cannot run now runs next time; commits are durable in the WAL either way
    }
  }

  private close(): void {
    clearInterval(this.checkpointTimer);
    openFiles.delete(resolve(this.path, ".."));
    this.db.close();
  }

  /** Opens (or shares, within this process) the flash file of a data directory. */
  static open(dataDir: string): FlashFile {
    const dir = resolve(dataDir);
    let file = openFiles.get(dir);
    if (file === undefined) {
      file = new FlashFile(join(dir, "flash.db"), openDatabase(dir));
      openFiles.set(dir, file);
    }
    file.refs++;
    return file;
  }

  /** Opens the flash of a data directory with one lock's partition claimed (released by `release`). */
  static openClaimed(dataDir: string, lockId: string): FlashFile {
    const file = FlashFile.open(dataDir);
    try {
      file.claim(lockId);
    } catch (e) {
      file.abandon();
      throw e;
    }
    return file;
  }

  /** Claims one lock's partition; a lock id runs at most once per flash. */
  claim(lockId: string): void {
    if (this.partitions.has(lockId)) {
      throw new FlashError(`lock "${lockId}" is already running on the flash at ${this.path}`);
    }
    this.partitions.add(lockId);
  }

  /** Gives a partition back; the connection closes with the last one. */
  release(lockId: string): void {
    if (!this.partitions.delete(lockId)) return;
    this.refs--;
    if (this.refs === 0) this.close();
  }

  /** Drops a reference taken by `open` when `claim` failed. */
  abandon(): void {
    this.refs--;
    if (this.refs === 0) this.close();
  }
}

/** Schemas 1 and 2 reach 3 in one step (`upgrade` goes column by column), so their own steps have nothing to do. */
const MIGRATIONS: readonly Migration[] = [
  () => {},
  () => {},
  (db) => {
    upgrade(db);
    db.exec(SCHEMA);
  },
];

function openDatabase(dir: string): SqliteDb {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new FlashError(`cannot create the data directory ${dir}: ${(e as Error).message}`);
  }
  const path = join(dir, "flash.db");
  try {
    return openSqlite(path, {
      timeoutMs: 0,
      pragmas: [
        "locking_mode = EXCLUSIVE",
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "cache_size = -256",
        "wal_autocheckpoint = 0",
      ],
      migrations: MIGRATIONS,
      owner: "this lock-sim",
    });
  } catch (e) {
    if (e instanceof SchemaTooNewError)
      throw new FlashError(`${path} was written by a newer lock-sim (schema ${e.found})`);
    const code = (e as { code?: string }).code;
    if (code === "SQLITE_BUSY") throw new FlashError(`the flash at ${path} is in use by another process`);
    if (code === "SQLITE_CANTOPEN") throw new FlashError(`cannot open ${path}: ${(e as Error).message}`);
    throw new FlashError(`cannot use ${path}: ${(e as Error).message}`);
  }
}
