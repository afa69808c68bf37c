import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The @latchkey/protocol version for `--version` (issue 15 item 10), read from its package.json found upwards from this file
 * (src/cli/ in tests, dist/src/cli/ when built, the installed package either way).
 */
function findVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "@latchkey/protocol") return pkg.version ?? "0.0.0";
    } catch {
      // not here; look one level up
    }
    dir = dirname(dir);
  }
  return "0.0.0";
}

export const PACKAGE_VERSION = findVersion();
