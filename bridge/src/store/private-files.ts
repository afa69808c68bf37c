import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";

/**
 * The bridge's data directory and its SQLite files hold phone numbers, key schedules and queued lock state: no other
 * local user may read them (review 12.2). Directories are 0700, database files (and SQLite's `-wal`, `-shm`,
 * `-journal`) 0600. A wider mode found on start is narrowed and reported, so the operator reads it in the log.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

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
  const mode = statSync(dir).mode;
  // 0o1000: the sticky bit of a directory every user writes to.
  if ((mode & 0o1000) !== 0) throw new UnsafeDataDirError(dir);
  narrow(dir, mode, PRIVATE_DIR_MODE, report);
}

/**
 * Makes a SQLite database file 0600 before SQLite opens it: created 0600 when absent (SQLite then gives its `-wal` and
 * `-shm` the database file's mode), narrowed with its side files when an older run left them wider.
 */
export function ensurePrivateDatabase(path: string, report: ModeReport): void {
  // The mode applies only when the file is created; an existing one is left as it is and checked below.
  closeSync(openSync(path, "a", PRIVATE_FILE_MODE));
  for (const file of [path, ...SQLITE_SIDE_FILES.map((s) => `${path}${s}`)]) {
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw e;
    }
    narrow(file, mode, PRIVATE_FILE_MODE, report);
  }
}

function narrow(path: string, mode: number, allowed: number, report: ModeReport): void {
  if ((mode & 0o777 & ~allowed) === 0) return;
  chmodSync(path, allowed);
  report({ path, was: octal(mode), now: octal(allowed) });
}
