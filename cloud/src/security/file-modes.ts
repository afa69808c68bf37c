import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, widerMode } from "@latchkey/runtime";

/**
 * The cloud's data directory holds the SQLite database (client, bridge and token hashes, sealed secrets, one-time-code
 * HMACs) and the master key: no other local user may read any of it (issue 12, finding 2). The directory is kept at
 * 0700 and each of its files at 0600; a wider mode found on start is narrowed and reported, and one that cannot be
 * narrowed (a file owned by another user) stops the start.
 */
export const DATA_DIR_MODE = PRIVATE_DIR_MODE;
export const DATA_FILE_MODE = PRIVATE_FILE_MODE;

/** A mode found wider than allowed and narrowed. */
export interface ModeFix {
  path: string;
  /** Octal text, e.g. "0644". */
  was: string;
  now: string;
}

export class FileModeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FileModeError";
  }
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8).padStart(3, "0")}`;

/** Narrows `path` to `allowed` if it grants anything more; undefined if it did not (or does not exist). */
export function restrictMode(path: string, allowed: number): ModeFix | undefined {
  const wider = widerMode(path, allowed);
  if (wider === undefined) return undefined;
  const { was: mode, narrowed } = wider;
  try {
    chmodSync(path, narrowed);
  } catch (e) {
    throw new FileModeError(
      `${path} has mode ${octal(mode)}, readable by other local users, and could not be narrowed to ` +
        `${octal(narrowed)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): fix its owner or mode`,
    );
  }
  return { path, was: octal(mode), now: octal(narrowed) };
}

/**
 * Creates `dir` (0700) if missing, and narrows it and each of `files` in it that exists to 0700 / 0600. Answers what
 * was narrowed, for the caller to log.
 */
export function restrictDataDir(dir: string, files: readonly string[]): ModeFix[] {
  mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
  const fixes = [restrictMode(dir, DATA_DIR_MODE), ...files.map((f) => restrictMode(join(dir, f), DATA_FILE_MODE))];
  return fixes.filter((f): f is ModeFix => f !== undefined);
}
