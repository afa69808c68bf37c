import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pollUntil } from "@latchkey/runtime";
import { stringify } from "yaml";
import { newSiteSecret } from "../src/config/starter.js";
import { BRIDGE_NODE_FLAGS } from "../src/runtime.js";
import { BRIDGE_PACKAGE_ROOT } from "../src/version.js";
import type { BenchSite } from "./cloud-site.js";

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  await pollUntil(what, check, { timeoutMs, intervalMs: 10 });
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });

/**
 * GET on the bridge's metrics listener, once more if the socket fails: fetch reuses an idle keep-alive connection, and
 * one the bridge closed at its 5 s idle timeout as the request went out fails with "other side closed" (a 5,000-lock
 * run died of it after its 5 s settle, 2026-12-07).
 */
async function get(url: string): Promise<Response> {
  try {
    return await fetch(url);
  } catch {
    return fetch(url);
  }
}

async function metric(base: string, name: string): Promise<number> {
  const text = await (await get(`${base}/metrics`)).text();
  return Number(new RegExp(`^${name} ([0-9.e+-]+)$`, "m").exec(text)?.[1]);
}

export interface BridgeHealth {
  feed: { caughtUp: boolean };
  locks: { known: number; online: number };
  outbox: { items: number };
  memory: { rssMb: number; heapUsedMb: number; heapTotalMb: number; externalMb: number };
}

export interface SpawnedBridge {
  mqttUrl: string;
  siteSecret: string;
  /** Spawn → /healthz answered 200. */
  listeningMs: number;
  health(): Promise<BridgeHealth | null>;
  /** Resident memory of the bridge process, from its own /metrics. */
  rssMb(): Promise<number>;
  /** CPU time the bridge process has used (user + system), from its own /metrics. */
  cpuSeconds(): Promise<number>;
  /** Connections this bridge process found closed by their client before it answered their CONNECT (not set up). */
  abandonedConnects(): Promise<number>;
  /**
   * Stops the process (SIGTERM, drained) and starts it again on the same configuration, data directory and ports, as
   * a gateway's service restarts: its embedded broker restarts with it. Answers ms until /healthz answered again.
   */
  restart(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * The built `latchkey-bridge` as its own process, as on a gateway (with BRIDGE_NODE_FLAGS), serving `site`.
 * Needs `tsc -b` first.
 */
export async function spawnBridge(site: BenchSite, extra: Record<string, unknown> = {}): Promise<SpawnedBridge> {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-bridge-bench-"));
  const siteSecret = newSiteSecret();
  const [mqttPort, metricsPort] = [await freePort(), await freePort()];
  const config = join(dir, "bridge.yaml");
  writeFileSync(
    config,
    stringify({
      cloud: { url: site.cloudUrl, bridgeId: site.bridgeId, secret: site.bridgeSecret },
      dataDir: join(dir, "data"),
      mqtt: { siteSecret, port: mqttPort },
      metrics: { port: metricsPort },
      vendorAccounts: [site.vendor],
      log: { level: "warn" },
      ...extra,
    }),
  );
  const started = performance.now();
  const launch = () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [
        ...BRIDGE_NODE_FLAGS,
        // LATCHKEY_BENCH_BRIDGE_PROFILE=<dir>: each bridge process (a restart is a new one) writes a CPU profile there.
        ...(process.env.LATCHKEY_BENCH_BRIDGE_PROFILE
          ? ["--cpu-prof", `--cpu-prof-dir=${process.env.LATCHKEY_BENCH_BRIDGE_PROFILE}`]
          : []),
        join(BRIDGE_PACKAGE_ROOT, "bin/latchkey-bridge.js"),
        "--config",
        config,
      ],
      // LATCHKEY_BENCH_BRIDGE_LOG=<file>: the bridge's log (level warn) goes there, to see why a figure is off.
      {
        stdio: [
          "ignore",
          process.env.LATCHKEY_BENCH_BRIDGE_LOG ? openSync(process.env.LATCHKEY_BENCH_BRIDGE_LOG, "a") : "ignore",
          "inherit",
        ],
      },
    );
    return { child, exited: new Promise<void>((resolve) => child.once("exit", () => resolve())) };
  };
  let current = launch();
  const base = `http://127.0.0.1:${metricsPort}`;
  const health = async () => {
    const res = await get(`${base}/healthz`).catch(() => null);
    return res?.ok ? ((await res.json()) as BridgeHealth) : null;
  };
  const halt = async () => {
    const { child, exited } = current;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until("the bridge listening", async () => (await health()) !== null, 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    siteSecret,
    listeningMs: Math.round(performance.now() - started),
    health,
    rssMb: async () => {
      const bytes = await metric(base, "latchkey_bridge_process_resident_memory_bytes");
      return Math.round((bytes / 1048576) * 10) / 10;
    },
    cpuSeconds: () => metric(base, "latchkey_bridge_process_cpu_seconds_total"),
    abandonedConnects: () => metric(base, "latchkey_bridge_mqtt_connects_abandoned_total"),
    async restart() {
      await halt();
      const restarted = performance.now();
      current = launch();
      await until("the bridge listening again", async () => (await health()) !== null, 60_000);
      return Math.round(performance.now() - restarted);
    },
    stop,
  };
}
