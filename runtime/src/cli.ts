import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * A mistake in how a command was called (a flag, an argument, an environment variable): the CLIs print its message
 * alone, naming the flag at fault, and exit 2 (issue 15 item 10), where any other error is a failure of the run.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface FoundPackage {
  /** The directory holding the package.json. */
  root: string;
  version: string;
}

/**
 * The package named `name` that holds the module at `from` (its import.meta.url), found upwards through package.json
 * files: src/ in tests, dist/src/ when built, the installed package either way. `--version` answers its version; a
 * module outside any such package (it cannot be, short of a broken install) reads 0.0.0 from its own directory.
 */
export function findPackage(name: string, from: string): FoundPackage {
  const start = dirname(fileURLToPath(from));
  let dir = start;
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === name) return { root: dir, version: pkg.version ?? "0.0.0" };
    } catch {
      // not here; look one level up
    }
    dir = dirname(dir);
  }
  return { root: start, version: "0.0.0" };
}
