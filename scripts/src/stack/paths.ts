import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the first directory above this module whose package.json declares workspaces. */
export function workspaceRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { workspaces?: unknown }).workspaces) return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no workspace root (package.json with workspaces) above ${from}`);
    dir = parent;
  }
}

/** The bins the stack runs as child processes. They run the built dist/ (`npm start` builds first). */
export interface Bins {
  cloud: string;
  bridge: string;
  lockSim: string;
  stack: string;
}

export function bins(root: string = workspaceRoot()): Bins {
  return {
    cloud: join(root, "cloud/bin/latchkey-cloud.js"),
    bridge: join(root, "bridge/bin/latchkey-bridge.js"),
    lockSim: join(root, "lock-sim/bin/latchkey-lock-sim.js"),
    stack: join(root, "scripts/bin/latchkey-stack.js"),
  };
}

/** Throws naming the command to run when a package has not been built (its bin imports dist/). */
export function assertBuilt(root: string = workspaceRoot()): void {
  const missing = ["cloud/dist/src/cli/main.js", "bridge/dist/src/cli/main.js"].filter(
    (p) => !existsSync(join(root, p)),
  );
  if (missing.length > 0)
    throw new Error(`not built (${missing.join(", ")} missing): run \`npx tsc -b\` (npm start does it for you)`);
}
