import type { BenchSite } from "./cloud-site.js";
import { BenchLock, benchLockIds, connectAll, connectTrouble } from "./lock-clients.js";
import { spawnBridge, until } from "./spawn-bridge.js";

export interface LocksCurvePoint {
  locks: number;
  /** The bridge's RSS with every lock connected, online and uploaded, after `settleSeconds` idle. */
  rssMb: number;
  /** Events published by all locks at once until the cloud acknowledged every one (the outbox empty again). */
  eventsPerSecond: number;
  events: number;
  /** Bridge (and its embedded broker) restarted with every lock connected; all reconnect at once: until all synced. */
  reconnectStormSeconds: number;
  /** Of which the bridge's own restart until /healthz answered (the locks wait for its broker). */
  restartMs: number;
  /** What `probe` measured with every lock connected (the caller's: e.g. a revocation's propagation p99, ms). */
  probe: number | null;
  /**
   * Connect attempts that failed and were redialled after a backoff, as a lock does (bench/lock-clients.ts
   * CONNECT_RETRY): at the first connects, and in the storm; `drops`: connections lost after their setup, redialled.
   */
  connectRetries: { first: number; storm: number; drops: number; reason: string | null };
}

/**
 * One point of the locks-per-bridge curve (issue 17 item 3): `locks` lock clients (mqtt.js, bench/lock-clients.ts) on
 * one bridge process. Synced, for a lock, is what its connect does: CONNACK, its keys and its online status PUBACKed,
 * its state and command subscriptions SUBACKed (a retained state would be delivered then); for the site, also the
 * bridge's outbox empty again (every presence uploaded to the cloud).
 */
export async function benchLocksCurvePoint(options: {
  site: BenchSite;
  locks: number;
  /** Events over all locks (default 20,000, at least one per lock). */
  events?: number;
  settleSeconds?: number;
  /**
   * Measured once every lock is connected and idle, on the same bridge (the caller's, since the bridge package holds
   * no lock simulator nor API client): e.g. a real lock's revocation propagation beside the crowd.
   */
  probe?: (bridge: { mqttUrl: string; siteSecret: string }) => Promise<number>;
}): Promise<LocksCurvePoint> {
  const count = options.locks;
  const perLock = Math.max(1, Math.round((options.events ?? 20_000) / count));
  const settleSeconds = options.settleSeconds ?? 5;
  const bridge = await spawnBridge(options.site);
  const locks = benchLockIds(count, "curve-lock").map((id) => new BenchLock(id, bridge.mqttUrl, bridge.siteSecret));
  const timeoutMs = 120_000 + count * 60;
  const drained = async (online: number) => {
    const h = await bridge.health();
    return h !== null && h.locks.online >= online && h.outbox.items === 0;
  };
  // Each lock redials a failed connect with backoff and a lost connection too (BenchLock), counting both.
  const trouble = () => {
    const t = connectTrouble(locks);
    return t.retries + t.drops ? ` (${t.retries} connects retried, ${t.drops} dropped: ${t.first})` : "";
  };
  try {
    await until("bridge ready", async () => (await bridge.health())?.feed.caughtUp === true, 60_000);
    await connectAll(locks).catch((e: Error) => {
      throw new Error(`${e.message}${trouble()}`);
    });
    await until("locks online and uploaded", () => drained(count), timeoutMs).catch((e: Error) => {
      throw new Error(`${e.message}${trouble()}`);
    });
    const first = connectTrouble(locks);
    await new Promise((r) => setTimeout(r, settleSeconds * 1000));
    const rssMb = await bridge.rssMb();
    const probe = options.probe ? await options.probe(bridge) : null;

    const started = performance.now();
    await Promise.all(locks.map((l) => l.publishEvents(perLock, 4)));
    await until("outbox drained", () => drained(count), timeoutMs);
    const eventsPerSecond = (count * perLock) / ((performance.now() - started) / 1000);

    // The storm: the broker goes away under every lock, comes back, and every lock reconnects at once.
    // The bench dials every lock itself once the bridge is back, so no lock redials on its own meanwhile.
    for (const l of locks) l.redialOnDrop = false;
    const stormStarted = performance.now();
    const restartMs = await bridge.restart();
    await Promise.all(
      locks.map(async (l) => {
        await l.close().catch(() => {});
        await l.connect();
      }),
    ).catch((e: Error) => {
      throw new Error(`${e.message}${trouble()}`);
    });
    await until("locks online again and uploaded", () => drained(count), timeoutMs).catch((e: Error) => {
      throw new Error(`${e.message}${trouble()}`);
    });
    const reconnectStormSeconds = (performance.now() - stormStarted) / 1000;
    const all = connectTrouble(locks);
    return {
      locks: count,
      rssMb,
      eventsPerSecond,
      events: count * perLock,
      reconnectStormSeconds,
      restartMs,
      probe,
      connectRetries: {
        first: first.retries,
        storm: all.retries - first.retries,
        drops: all.drops,
        reason: all.first,
      },
    };
  } finally {
    await Promise.all(locks.map((l) => l.close().catch(() => {})));
    await bridge.stop();
  }
}
