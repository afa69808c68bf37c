import { readFileSync } from "node:fs";
import type { BenchSite } from "./cloud-site.js";
import { BenchLock, benchLockIds, connectAll, connectTrouble } from "./lock-clients.js";
import { spawnBridge, until } from "./spawn-bridge.js";

export interface LocksCurvePoint {
  locks: number;
  /** The bridge's RSS with every lock connected, online and uploaded, after `settleSeconds` idle. */
  rssMb: number;
  /**
   * Events published by all locks at once (`eventsPerLock` each, built before the window: the window only publishes)
   * until the cloud acknowledged every one (the outbox empty again).
   */
  eventsPerSecond: number;
  events: number;
  /** CPU the bridge process used in that window, per event (µs; its /metrics). */
  bridgeCpuUsPerEvent: number;
  /** CPU this (the clients') process used in that window, per event (µs): whether the clients set the pace. */
  clientsCpuUsPerEvent: number;
  /**
   * Bridge (and its embedded broker) restarted with every lock connected; every lock redials as the reference lock
   * does (CONNECT_RETRY: 1 s after the drop, doubling per failed attempt, ±50 %): until all synced again.
   */
  reconnectStormSeconds: number;
  /** Of which the bridge's own restart until /healthz answered (the locks' attempts meanwhile are refused). */
  restartMs: number;
  /**
   * When, from the storm's start, the last lock began the attempt that worked (s): the rest of the storm is the bridge
   * serving it. And the longest any lock's working attempt took, dial to synced (s).
   */
  lastAttemptStartedSeconds: number;
  slowestAttemptSeconds: number;
  /** The storm's failed attempts by reason (message, numbers blanked). */
  stormReasons: Record<string, number>;
  /** Connections the restarted bridge found closed by their lock before it answered their CONNECT, not set up. */
  abandonedConnects: number;
  /**
   * The kernel's listen-queue overflows during the storm (TcpExt ListenOverflows of /proc/net/netstat, machine-wide),
   * and its cap on any listen backlog (net.core.somaxconn): null where not Linux.
   */
  listenOverflows: number | null;
  somaxconn: number | null;
  /** What `probe` measured with every lock connected (the caller's: e.g. a revocation's propagation p99, ms). */
  probe: number | null;
  /**
   * Connect attempts that failed and were redialled after a backoff, as a lock does (bench/lock-clients.ts
   * CONNECT_RETRY): at the first connects, and in the storm; `drops`: connections lost after their setup, redialled;
   * `resent`: events published again on a new connection because theirs was lost before the PUBACK.
   */
  connectRetries: { first: number; storm: number; drops: number; resent: number; reason: string | null };
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
  /** Events each lock publishes (default 10): the events grow with the locks, the figure is the cost of an event. */
  eventsPerLock?: number;
  settleSeconds?: number;
  /**
   * Measured once every lock is connected and idle, on the same bridge (the caller's, since the bridge package holds
   * no lock simulator nor API client): e.g. a real lock's revocation propagation beside the crowd.
   */
  probe?: (bridge: { mqttUrl: string; siteSecret: string }) => Promise<number>;
}): Promise<LocksCurvePoint> {
  const count = options.locks;
  const perLock = options.eventsPerLock ?? 10;
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

    // Every payload is signed and sealed before the window: the window times the bridge carrying bytes, not the
    // clients building them.
    const prepared = locks.map((l) => l.prepareEvents(perLock));
    const cpuBefore = await bridge.cpuSeconds();
    const clientsBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(locks.map((l, i) => l.publishEvents(perLock, 4, undefined, prepared[i])));
    await until("outbox drained", () => drained(count), timeoutMs);
    const seconds = (performance.now() - started) / 1000;
    const clientsCpu = process.cpuUsage(clientsBefore);
    const bridgeCpu = (await bridge.cpuSeconds()) - cpuBefore;
    const events = count * perLock;
    const eventsPerSecond = events / seconds;

    // The storm: the broker goes away under every lock and comes back; every lock redials as a lock does (its first
    // attempt 1 s ± 50 % after the drop, refused while the bridge restarts, then backing off), until all synced again.
    const drops = locks.map((l) => l.drops);
    const overflowsBefore = listenOverflows();
    const stormStarted = performance.now();
    const restartMs = await bridge.restart();
    await until("every lock saw its connection dropped", () => locks.every((l, i) => l.drops > drops[i]!), timeoutMs);
    await Promise.all(locks.map((l) => l.redialing));
    await until("locks online again and uploaded", () => drained(count), timeoutMs).catch((e: Error) => {
      throw new Error(`${e.message}${trouble()}`);
    });
    if (!locks.every((l) => l.client.connected)) throw new Error(`a lock did not reconnect${trouble()}`);
    const reconnectStormSeconds = (performance.now() - stormStarted) / 1000;
    const abandonedConnects = await bridge.abandonedConnects();
    const overflowsAfter = listenOverflows();
    const all = connectTrouble(locks);
    const stormReasons: Record<string, number> = {};
    for (const [reason, n] of Object.entries(all.reasons)) {
      const before = first.reasons[reason] ?? 0;
      if (n > before) stormReasons[reason] = n - before;
    }
    return {
      locks: count,
      rssMb,
      eventsPerSecond,
      events,
      bridgeCpuUsPerEvent: (bridgeCpu * 1e6) / events,
      clientsCpuUsPerEvent: (clientsCpu.user + clientsCpu.system) / events,
      reconnectStormSeconds,
      restartMs,
      lastAttemptStartedSeconds: (Math.max(...locks.map((l) => l.lastAttemptAt)) - stormStarted) / 1000,
      slowestAttemptSeconds: Math.max(...locks.map((l) => l.connectedAt - l.lastAttemptAt)) / 1000,
      stormReasons,
      abandonedConnects,
      listenOverflows: overflowsBefore === null || overflowsAfter === null ? null : overflowsAfter - overflowsBefore,
      somaxconn: somaxconn(),
      probe,
      connectRetries: {
        first: first.retries,
        storm: all.retries - first.retries,
        // Every lock drops once in the storm, on purpose; these are the others.
        drops: all.drops - count,
        resent: all.resent,
        reason: all.first,
      },
    };
  } finally {
    await Promise.all(locks.map((l) => l.close().catch(() => {})));
    await bridge.stop();
  }
}

/** TcpExt ListenOverflows of /proc/net/netstat (machine-wide, since boot); null where there is none. */
export function listenOverflows(text = readOr("/proc/net/netstat")): number | null {
  if (text === null) return null;
  const lines = text.split("\n").filter((l) => l.startsWith("TcpExt:"));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const at = names.indexOf("ListenOverflows");
  return at < 0 || values[at] === undefined ? null : Number(values[at]);
}

function somaxconn(): number | null {
  const text = readOr("/proc/sys/net/core/somaxconn");
  return text === null ? null : Number(text.trim());
}

function readOr(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
