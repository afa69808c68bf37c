import { fileURLToPath } from "node:url";
import { ManagedChild } from "../src/stack/child.js";
import type { Cleanup } from "./cleanup.js";

/** Starts raw-broker.js as a child process; resolves with its URL (and pid) once it listens. */
export async function startRawBroker(cleanup: Cleanup): Promise<{ url: string; pid: number | undefined }> {
  const child = new ManagedChild({
    name: "raw aedes",
    script: fileURLToPath(new URL("./raw-broker.js", import.meta.url)),
    args: [],
  });
  cleanup.add(() => child.stop());
  const line = await child.waitForLine("the broker's port", (l) => typeof l.record?.port === "number", {
    timeoutMs: 30_000,
  });
  return { url: `mqtt://127.0.0.1:${line.record!.port}`, pid: child.pid };
}
