import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The bridge package's directory and version (found upwards from this file: src/ in tests, dist/src/ when built). */
function findPackage(): { root: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "@latchkey/bridge") return { root: dir, version: pkg.version ?? "0.0.0" };
    } catch {
      // not here; look one level up
    }
    dir = dirname(dir);
  }
  return { root: dirname(fileURLToPath(import.meta.url)), version: "0.0.0" };
}

const found = findPackage();
export const BRIDGE_VERSION = found.version;
/** The bridge package directory (holds bin/latchkey-bridge.js). */
export const BRIDGE_PACKAGE_ROOT = found.root;
