import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { keyPairFromSeed, nodeEd25519, signKeyToken, signUnlockProof } from "@latchkey/protocol";
import { startLock } from "../src/lock/start-lock.js";
import { seededRandom } from "../src/random.js";
import { startBenchBroker } from "./broker.js";
import { BenchCloud } from "./cloud.js";
import { type Percentiles, percentiles } from "./stats.js";

export interface UnlockLatencyResult {
  runs: number;
  backend: "node";
  /** Challenge + verify (through the trust engine) + actuate + event persisted, sealed and handed to the MQTT client. */
  atLockMs: Percentiles;
  /** The same until the broker's PUBACK for the sealed event has arrived (loopback broker in this process). */
  toPubackMs: Percentiles;
}

/**
 * Unlock latency at the lock with the node:crypto backend. The lock first gets its signed state (the issuer key) and
 * signed time from a BenchCloud. Each run: `challenge` (nonce drawn and booked), the phone signs its proof (not
 * counted: that is the phone's time), `unlock` (the trust engine's key check, token and proof, motor, event appended
 * to flash, sealed under a new report counter, published QoS 1), then wait for the PUBACK; a `lock` command between
 * runs is not counted. Every 200 runs the cloud acknowledges the events so far with a new state (not counted), as it
 * would after storing them, so the ring stays small.
 */
export async function benchUnlockLatency(
  options: { runs?: number; warmup?: number } = {},
): Promise<UnlockLatencyResult> {
  const runs = options.runs ?? 2000;
  const warmup = options.warmup ?? 200;
  const broker = await startBenchBroker();
  const dir = mkdtempSync(join(tmpdir(), "lock-sim-bench-"));
  const random = seededRandom("bench");
  const issuer = keyPairFromSeed(random(32));
  const device = keyPairFromSeed(random(32));
  const kid = random(8);
  const cloud = new BenchCloud(random);
  const issuers = [{ kid, x: issuer.publicKey, notAfter: Math.floor(Date.now() / 1000) + 86_400 }];
  const lock = await startLock({
    lockId: "bench-lock",
    dataDir: dir,
    mqttUrl: broker.url,
    backend: nodeEd25519,
    random,
    ringCapacity: 10_000,
    tickIntervalMs: 0,
    telemetryIntervalSeconds: 0,
  });
  const now = Math.floor(Date.now() / 1000);
  const atLock: number[] = [];
  const toPuback: number[] = [];
  try {
    cloud.provision(lock, issuers);
    for (let i = 0; i < warmup + runs; i++) {
      if (i % 200 === 199) cloud.applyState(lock, issuers, lock.events.at(-1)?.seq ?? 0);
      const token = signKeyToken(
        {
          iss: "bench",
          sub: "+4790000000",
          aud: "bench-lock",
          nbf: now - 60,
          exp: now + 3600,
          iat: now - 60,
          cti: random(16),
          cnf: device.publicKey,
        },
        { kid, secretKey: issuer.secretKey },
      );
      const t0 = performance.now();
      const nonce = lock.command({ id: `c${i}`, type: "challenge" }).nonce!;
      const t1 = performance.now();
      const proof = signUnlockProof({ lockId: "bench-lock", nonce, token, deviceSecretKey: device.secretKey });
      const t2 = performance.now();
      const result = lock.command({ id: `u${i}`, type: "unlock", token, nonce, proof });
      const t3 = performance.now();
      if (!result.ok) throw new Error(`bench unlock refused: ${result.code}`);
      await lock.waitForDelivered();
      const t4 = performance.now();
      if (i >= warmup) {
        atLock.push(t1 - t0 + (t3 - t2));
        toPuback.push(t1 - t0 + (t4 - t2));
      }
      lock.command({ id: `l${i}`, type: "lock" });
      await lock.waitForDelivered();
    }
  } finally {
    await lock.stop();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { runs, backend: "node", atLockMs: percentiles(atLock), toPubackMs: percentiles(toPuback) };
}
