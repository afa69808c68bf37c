import { type CloudTarget, createBenchSite } from "./cloud-site.js";
import { BenchLock } from "./lock-clients.js";
import { spawnBridge, until } from "./spawn-bridge.js";
import { type Percentiles, percentiles } from "./stats.js";

/**
 * Key propagation on loopback: from the integrator's `POST …/keys` until the lock holds a sync listing the new key
 * (cloud feed long-poll → bridge process → `sync` over MQTT). Keys are created one after the other.
 */
export async function benchKeyPropagation(options: { cloud: CloudTarget; samples?: number }): Promise<Percentiles> {
  const samples = options.samples ?? 100;
  const site = await createBenchSite(options.cloud, `bench-keys-${Date.now()}`);
  const bridge = await spawnBridge(site);
  const lock = new BenchLock("bench-key-lock", bridge.mqttUrl, bridge.siteSecret);
  let grants = 0;
  let at = 0;
  lock.onSync = (sync) => {
    const n = sync.grants?.length ?? 0;
    if (n > grants) {
      grants = n;
      at = performance.now();
    }
    void lock.telemetry(sync.v);
  };
  try {
    await lock.connect();
    const lockPath = `/lock-holders/${site.lockHolderId}/locks/${lock.lockId}`;
    await until("the lock at the cloud", async () => (await site.call("GET", lockPath)).status === 200);
    const latencies: number[] = [];
    for (let i = 1; i <= samples; i++) {
      const started = performance.now();
      const created = await site.call("POST", `${lockPath}/keys`, { userId: `+4791${String(i).padStart(6, "0")}` });
      if (created.status !== 201) throw new Error(`key ${i}: ${created.status} ${JSON.stringify(created.body)}`);
      await until(`key ${i} at the lock`, () => grants >= i, 30_000);
      latencies.push(at - started);
    }
    return percentiles(latencies);
  } finally {
    await lock.close();
    await bridge.stop();
  }
}
