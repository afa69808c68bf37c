import type { BenchSite } from "./cloud-site.js";
import { BenchLock, benchLockIds, connectAll } from "./lock-clients.js";
import type { ThroughputResult } from "./raw-aedes.js";
import { spawnBridge, until } from "./spawn-bridge.js";

export interface BridgeEventsResult extends ThroughputResult {
  /** Publishes per second until the last PUBACK (every event durable in the bridge's outbox). */
  pubackPerSecond: number;
  /** CPU time of the bridge process per event (all of its work: broker, outbox, upload): robust to a busy machine. */
  bridgeCpuMicrosPerEvent: number;
}

/**
 * Sustained events from `locks` lock clients through the bridge (its own process: embedded broker → SQLite outbox,
 * synchronous FULL → cloud ingest), timed from the first publish until the cloud has acknowledged every event (the
 * bridge's outbox is empty again).
 */
export async function benchBridgeEvents(options: {
  /** A fresh site of the cloud under test, for this run alone. */
  site: BenchSite;
  locks?: number;
  eventsPerLock?: number;
  window?: number;
}): Promise<BridgeEventsResult> {
  const count = options.locks ?? 100;
  const perLock = options.eventsPerLock ?? 200;
  const window = options.window ?? 16;
  const site = options.site;
  const bridge = await spawnBridge(site);
  const locks = benchLockIds(count).map((id) => new BenchLock(id, bridge.mqttUrl, bridge.siteSecret));
  try {
    await connectAll(locks);
    // Every lock reported, assigned by the cloud and its presence uploaded: only then is the outbox empty again.
    await until("locks assigned", async () => {
      const h = await bridge.health();
      return h !== null && h.locks.known >= count && h.outbox.items === 0;
    });
    const cpuBefore = await bridge.cpuSeconds();
    const started = performance.now();
    await Promise.all(locks.map((l) => l.publishEvents(perLock, window)));
    const acked = performance.now();
    await until("outbox drained", async () => (await bridge.health())?.outbox.items === 0);
    const done = performance.now();
    const cpu = (await bridge.cpuSeconds()) - cpuBefore;
    const events = count * perLock;
    const seconds = (done - started) / 1000;
    return {
      messages: events,
      seconds: Math.round(seconds * 1000) / 1000,
      perSecond: Math.round(events / seconds),
      pubackPerSecond: Math.round(events / ((acked - started) / 1000)),
      bridgeCpuMicrosPerEvent: Math.round((cpu * 1e6) / events),
    };
  } finally {
    await Promise.all(locks.map((l) => l.close()));
    await bridge.stop();
  }
}
