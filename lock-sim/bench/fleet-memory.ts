import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Topics } from "@latchkey/protocol";
import { fleetLockIds } from "../src/fleet/fleet.js";
import { setupCodes } from "../src/lock/factory.js";
import { seededRandom } from "../src/random.js";
import { startBenchBroker } from "./broker.js";
import { BenchCloud } from "./cloud.js";

export interface FleetMemoryResult {
  locks: number;
  telemetryIntervalSeconds: number;
  /** Seconds until every lock had published its first telemetry (staggered start). */
  connectSeconds: number;
  /** Length of the steady-state window measured after that. */
  windowSeconds: number;
  /** Resident set of the lock-sim process at the end of the window, and its peak (VmHWM), MB. */
  rssMb: number;
  peakRssMb: number;
  /** Telemetry messages the broker received in the window, and per lock per minute. */
  telemetryInWindow: number;
  telemetryPerLockPerMinute: number;
}

const BIN = fileURLToPath(new URL("../../bin/latchkey-lock-sim.js", import.meta.url));

function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/**
 * RSS of `latchkey-lock-sim --count N` (its own process, the real CLI) on one broker, each lock on its own broker
 * connection, with one telemetry message per lock per minute. The broker runs in this process so it does not count.
 * A lock reports nothing before its signed state, so the bench reads the setup codes of the fleet's flash first and,
 * as the bridge would, leaves each lock's signed state retained on its `state` topic. Linux only (reads /proc).
 */
export async function benchFleetMemory(
  options: { locks?: number; windowSeconds?: number; telemetryIntervalSeconds?: number; connectRate?: number } = {},
): Promise<FleetMemoryResult> {
  const locks = options.locks ?? 1000;
  const windowSeconds = options.windowSeconds ?? 60;
  const interval = options.telemetryIntervalSeconds ?? 60;
  const broker = await startBenchBroker();
  const dir = mkdtempSync(join(tmpdir(), "lock-sim-fleet-bench-"));
  const cloud = new BenchCloud(seededRandom("fleet-bench"));
  const topics = new Topics();
  for (const { lockId, setupCode } of setupCodes(fleetLockIds(locks), { dataDir: dir })) {
    await broker.publishRetained(topics.lock(lockId, "state"), cloud.state(lockId, setupCode, []));
  }
  const child = spawn(
    process.execPath,
    [
      BIN,
      "--count",
      String(locks),
      "--mqtt",
      broker.url,
      "--data",
      dir,
      "--telemetry-interval",
      String(interval),
      "--connect-rate",
      String(options.connectRate ?? 200),
      "--log-level",
      "error",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    const started = Date.now();
    // every lock reports telemetry once its state is applied: all connected when the broker has seen `locks` of them
    while ((broker.counts.get("telemetry") ?? 0) < locks) {
      if (child.exitCode !== null) throw new Error(`latchkey-lock-sim exited with ${child.exitCode}`);
      if (Date.now() - started > 300_000) throw new Error("the fleet did not come online within 300 s");
      await sleep(200);
    }
    const connectSeconds = (Date.now() - started) / 1000;
    const before = broker.counts.get("telemetry") ?? 0;
    let last = memoryOf(child.pid!);
    const windowEnd = Date.now() + windowSeconds * 1000;
    while (Date.now() < windowEnd) {
      await sleep(1000);
      last = memoryOf(child.pid!);
    }
    const inWindow = (broker.counts.get("telemetry") ?? 0) - before;
    return {
      locks,
      telemetryIntervalSeconds: interval,
      connectSeconds: Math.round(connectSeconds * 10) / 10,
      windowSeconds,
      rssMb: Math.round(last.rss),
      peakRssMb: Math.round(last.peak),
      telemetryInWindow: inWindow,
      telemetryPerLockPerMinute: Math.round((inWindow / locks / (windowSeconds / 60)) * 100) / 100,
    };
  } finally {
    child.kill("SIGTERM");
    await exited;
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
