import { statSync } from "node:fs";

/**
 * Data directories and the files in them are for the process's own user only (review 12.2 for the bridge, issue 12
 * finding 2 for the cloud): directories 0700, files 0600.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** A path whose permission bits grant more than allowed: what they are and what they should be (`was & allowed`). */
export interface WiderMode {
  path: string;
  was: number;
  narrowed: number;
}

/**
 * Whether `path` grants anything beyond `allowed`, read from the file system; undefined when it does not, or does not
 * exist. It changes nothing: how to narrow, and what a failed chmod means, is the caller's (the bridge makes its files
 * `allowed` so SQLite can write them, the cloud keeps only bits already granted and stops on failure).
 */
export function widerMode(path: string, allowed: number): WiderMode | undefined {
  let was: number;
  try {
    was = statSync(path).mode & 0o777;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  return (was & ~allowed) === 0 ? undefined : { path, was, narrowed: was & allowed };
}
