import { fileURLToPath } from "node:url";
import { ManagedChild } from "../src/stack/child.js";
import type { Cleanup } from "./cleanup.js";

/**
 * Starts raw-broker.js (or, `floor`, floor-broker.js: aedes + a group-committed insert per event) as a child process;
 * resolves with its URL (and pid) once it listens.
 */
export async function startRawBroker(
  cleanup: Cleanup,
  kind: "raw" | "floor" = "raw",
): Promise<{ url: string; pid: number | undefined }> {
  const child = new ManagedChild({
    name: kind === "raw" ? "raw aedes" : "aedes + SQLite floor",
    script: fileURLToPath(new URL(kind === "raw" ? "./raw-broker.js" : "./floor-broker.js", import.meta.url)),
    args: [],
  });
  cleanup.add(() => child.stop());
  const line = await child.waitForLine("the broker's port", (l) => typeof l.record?.port === "number", {
    timeoutMs: 30_000,
  });
  return { url: `mqtt://127.0.0.1:${line.record!.port}`, pid: child.pid };
}
