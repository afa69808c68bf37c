import type { BenchSite } from "./cloud-site.js";
import { BenchLock, benchLockIds, connectAll } from "./lock-clients.js";
import { spawnBridge, until } from "./spawn-bridge.js";

export interface BridgeMemoryResult {
  locks: number;
  /** Spawn → /healthz answers 200 (broker and metrics listening). */
  coldStartListeningMs: number;
  /** Spawn → change feed read to its end (/healthz feed.caughtUp). */
  coldStartReadyMs: number;
  idleRssMb: number;
  /** Right after the burst of 1,000 connections settled (transient: garbage not yet collected). */
  rssAfterConnectMb: number;
  /**
   * Steady state, with every lock connected, online and assigned, its keys kept and its presence and telemetry
   * uploaded: after `settleSeconds` without new work, once V8's memory reducer has run (what a gateway sees).
   */
  rssWithLocksMb: number;
  /** V8 heap in use / reserved in the steady state (the rest of the RSS is code, native memory and free pages). */
  heapWithLocksMb: { used: number; total: number };
  settleSeconds: number;
}

/** The bridge process: cold start, idle RSS, and RSS with `locks` connected locks (its own /metrics). */
export async function benchBridgeMemory(options: {
  /** A fresh site of the cloud under test, for this run alone. */
  site: BenchSite;
  locks?: number;
  settleSeconds?: number;
}): Promise<BridgeMemoryResult> {
  const count = options.locks ?? 1000;
  const settleSeconds = options.settleSeconds ?? 30;
  const site = options.site;
  const started = performance.now();
  const bridge = await spawnBridge(site);
  let locks: BenchLock[] = [];
  try {
    await until("bridge ready", async () => (await bridge.health())?.feed.caughtUp === true, 60_000);
    const coldStartReadyMs = Math.round(performance.now() - started);
    const idleRssMb = await bridge.rssMb();
    // Only now: each lock client derives its Ed25519 and X25519 keys when built, 1.4–2.4 s of this process's CPU for
    // 1,000 of them, which would otherwise stall the readiness poll above and count as the bridge's cold start.
    locks = benchLockIds(count, "mem-lock").map((id) => new BenchLock(id, bridge.mqttUrl, bridge.siteSecret));
    await connectAll(locks);
    await Promise.all(locks.map((l) => l.telemetry()));
    await until(
      "locks online and uploaded",
      async () => {
        const h = await bridge.health();
        return h !== null && h.locks.online >= count && h.outbox.items === 0;
      },
      300_000,
    );
    const rssAfterConnectMb = await bridge.rssMb();
    // The locks stay connected and idle (keepalives only), as on a gateway between events.
    await new Promise((r) => setTimeout(r, settleSeconds * 1000));
    const memory = (await bridge.health())?.memory;
    return {
      locks: count,
      coldStartListeningMs: bridge.listeningMs,
      coldStartReadyMs,
      idleRssMb,
      rssAfterConnectMb,
      rssWithLocksMb: await bridge.rssMb(),
      heapWithLocksMb: { used: memory?.heapUsedMb ?? Number.NaN, total: memory?.heapTotalMb ?? Number.NaN },
      settleSeconds,
    };
  } finally {
    await Promise.all(locks.map((l) => l.close().catch(() => {})));
    await bridge.stop();
  }
}
