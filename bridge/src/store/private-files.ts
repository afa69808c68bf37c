import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, widerMode } from "@latchkey/runtime";

/**
 * The bridge's data directory and its SQLite files hold phone numbers, key schedules and queued lock state: no other
 * local user may read them (review 12.2). Directories are 0700, database files (and SQLite's `-wal`, `-shm`,
 * `-journal`) 0600. A wider mode found on start is narrowed and reported, so the operator reads it in the log.
 */

/** A mode the bridge found wider than it allows, and narrowed. Modes as octal text ("755"). */
export interface ModeFix {
  path: string;
  was: string;
  now: string;
}

export type ModeReport = (fix: ModeFix) => void;

/** The data directory is a shared one (sticky, like /tmp): narrowing it would break other users, so it is refused. */
export class UnsafeDataDirError extends Error {
  readonly code = "unsafe_data_dir";
  constructor(readonly path: string) {
    super(`${path} is a shared (sticky) directory; give the bridge a data directory of its own`);
    this.name = "UnsafeDataDirError";
  }
}

const octal = (mode: number) => (mode & 0o777).toString(8);
const SQLITE_SIDE_FILES = ["-wal", "-shm", "-journal"];

/** Creates `dir` (and missing parents) 0700, or narrows an existing `dir` to 0700. */
export function ensurePrivateDir(dir: string, report: ModeReport): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  // 0o1000: the sticky bit of a directory every user writes to.
  if ((statSync(dir).mode & 0o1000) !== 0) throw new UnsafeDataDirError(dir);
  narrow(dir, PRIVATE_DIR_MODE, report);
}

/**
 * Makes a SQLite database file 0600 before SQLite opens it: created 0600 when absent (SQLite then gives its `-wal` and
 * `-shm` the database file's mode), narrowed with its side files when an older run left them wider.
 */
export function ensurePrivateDatabase(path: string, report: ModeReport): void {
  // The mode applies only when the file is created; an existing one is left as it is and checked below.
  closeSync(openSync(path, "a", PRIVATE_FILE_MODE));
  for (const file of [path, ...SQLITE_SIDE_FILES.map((s) => `${path}${s}`)]) narrow(file, PRIVATE_FILE_MODE, report);
}

/** To `allowed` itself, not `was & allowed`: a 0444 file left by hand must come back writable for SQLite. */
function narrow(path: string, allowed: number, report: ModeReport): void {
  const wider = widerMode(path, allowed);
  if (wider === undefined) return;
  chmodSync(path, allowed);
  report({ path, was: octal(wider.was), now: octal(allowed) });
}
