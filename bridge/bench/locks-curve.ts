import type { BenchSite } from "./cloud-site.js";
import { BenchLock, benchLockIds, connectAll } from "./lock-clients.js";
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
  // A reset after CONNACK is an `error` event on the client: without a listener it would end the process, not the point.
  const resets: string[] = [];
  const listen = () => {
    for (const l of locks)
      if (l.client.listenerCount("error") === 0) l.client.on("error", (e) => resets.push(e.message));
  };
  try {
    await until("bridge ready", async () => (await bridge.health())?.feed.caughtUp === true, 60_000);
    await connectAll(locks);
    listen();
    await until("locks online and uploaded", () => drained(count), timeoutMs).catch((e: Error) => {
      throw new Error(`${e.message}${resets.length ? ` (${resets.length} connection errors: ${resets[0]})` : ""}`);
    });
    await new Promise((r) => setTimeout(r, settleSeconds * 1000));
    const rssMb = await bridge.rssMb();
    const probe = options.probe ? await options.probe(bridge) : null;

    const started = performance.now();
    await Promise.all(locks.map((l) => l.publishEvents(perLock, 4)));
    await until("outbox drained", () => drained(count), timeoutMs);
    const eventsPerSecond = (count * perLock) / ((performance.now() - started) / 1000);

    // The storm: the broker goes away under every lock, comes back, and every lock reconnects at once.
    const stormStarted = performance.now();
    const restartMs = await bridge.restart();
    await Promise.all(
      locks.map(async (l) => {
        await l.close().catch(() => {});
        await l.connect();
      }),
    );
    listen();
    await until("locks online again and uploaded", () => drained(count), timeoutMs);
    const reconnectStormSeconds = (performance.now() - stormStarted) / 1000;
    return { locks: count, rssMb, eventsPerSecond, events: count * perLock, reconnectStormSeconds, restartMs, probe };
  } finally {
    await Promise.all(locks.map((l) => l.close().catch(() => {})));
    await bridge.stop();
  }
}
