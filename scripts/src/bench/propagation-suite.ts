import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { type SimLock, startLock } from "@latchkey/lock-sim";
import { toHex } from "@latchkey/protocol";
import mqtt from "mqtt";
import { pollUntil } from "../client/poll.js";
import { Cleanup } from "./cleanup.js";
import { loadSpan } from "./machine.js";
import { type BenchContext, type BenchRow, type BenchSuite, median, percentile, type RowSpec, row } from "./rows.js";
import { type BenchBridge, createBenchSite, startBenchBridge, startBenchCloud, tempDir } from "./site.js";

const spec = (what: "create" | "revoke", p: 50 | 99): RowSpec => ({
  name: `key-propagation-${what}-p${p}`,
  unit: "ms",
  target: "p99 <= 100 ms",
});
const SPECS = [spec("create", 50), spec("create", 99), spec("revoke", 50), spec("revoke", 99)];
const ECHO = { username: "bench-echo@site", password: randomBytes(16).toString("hex") };
const PING = { username: "bench-ping@site", password: randomBytes(16).toString("hex") };

/**
 * The baseline: an MQTT round trip on the bridge's own broker. One client publishes QoS 1, another (subscribed) echoes
 * it back QoS 1, the first one receives it. Both log in with accounts of `mqtt.accounts` (Home Assistant's role, the
 * only non-lock logins the embedded broker has) on its lock command topics, which the bridge accepts and ignores.
 */
async function mqttRoundTrips(bridge: BenchBridge, samples: number): Promise<number[]> {
  const options = { protocolVersion: 4 as const, reconnectPeriod: 0, clean: true };
  const [ping, echo] = await Promise.all([
    mqtt.connectAsync(bridge.mqttUrl, { ...options, clientId: "bench-ping", ...PING }),
    mqtt.connectAsync(bridge.mqttUrl, { ...options, clientId: "bench-echo", ...ECHO }),
  ]);
  // Nagle's algorithm would hold the echo's PUBLISH behind its PUBACK until the broker's delayed ACK (~40 ms): the
  // baseline is the broker's round trip, so both clients send at once, as the broker's own sockets do (noDelay).
  for (const client of [ping, echo]) (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  try {
    const there = "latchkey/ha/bench-rtt-there/set";
    const back = "latchkey/ha/bench-rtt-back/set";
    await echo.subscribeAsync(there, { qos: 1 });
    await ping.subscribeAsync(back, { qos: 1 });
    // The last echo may still wait for its PUBACK when the clients are closed: that failure means nothing here.
    echo.on("message", (_t, payload) => echo.publishAsync(back, payload, { qos: 1 }).catch(() => {}));
    let waiting: ((payload: Buffer) => void) | null = null;
    ping.on("message", (_t, payload) => waiting?.(payload));
    const times: number[] = [];
    for (let i = 0; i < samples; i++) {
      const body = Buffer.from(`rtt-${i}`);
      const started = performance.now();
      const echoed = new Promise<Buffer>((resolve) => {
        waiting = resolve;
      });
      await ping.publishAsync(there, body, { qos: 1 });
      const answer = await Promise.race([
        echoed,
        new Promise<never>((_r, reject) => setTimeout(() => reject(new Error("no MQTT echo within 10 s")), 10_000)),
      ]);
      if (!answer.equals(body)) throw new Error("MQTT echo returned another message");
      times.push(performance.now() - started);
    }
    return times;
  } finally {
    await Promise.all([ping.endAsync(true), echo.endAsync(true)]);
  }
}

/** Until `check` holds for the lock, woken by the lock's own state changes. */
const lockApplied = (lock: SimLock, what: string, check: (l: SimLock) => boolean) =>
  lock.waitFor(check, what, { timeoutMs: 30_000 });

/**
 * Key propagation on a whole site: cloud, bridge and a lock-sim lock, each real (cloud and bridge as processes, the lock
 * in this one). Create: from `POST …/keys` until the lock holds a grant for it; revoke: from `PUT …/keys/{id}`
 * `{state: "revoked"}` until the lock has its cti on the revocation list. Keys one after the other; a fresh lock per
 * round. Figures are medians over rounds of each round's percentile.
 */
export const propagationSuite: BenchSuite = {
  id: "propagation",
  rows: SPECS,
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rounds = ctx.smoke ? 1 : 3;
    const keys = ctx.smoke ? 3 : 100;
    const rttSamples = ctx.smoke ? 5 : 300;
    const load = loadSpan();
    const cleanup = new Cleanup();
    try {
      const dir = tempDir(cleanup, "propagation");
      const profile = ctx.profileDir ? { profileDir: ctx.profileDir } : {};
      const cloud = await startBenchCloud(cleanup, dir, profile);
      const site = await createBenchSite(cloud, "bench-propagation");
      const bridge = await startBenchBridge(cleanup, dir, cloud, site, { ...profile, accounts: [PING, ECHO] });
      const perRound = { create: [] as number[][], revoke: [] as number[][], rtt: [] as number[][] };
      for (let round = 1; round <= rounds; round++) {
        const lockId = `prop-lock-${round}`;
        const lock = await startLock({
          lockId,
          dataDir: join(dir, "locks"),
          mqttUrl: bridge.mqttUrl,
          siteSecret: bridge.siteSecret,
          telemetryIntervalSeconds: 0,
        });
        try {
          // The lock is at the cloud and trusts the lock holder's issuer key: the site is ready for keys.
          await pollUntil(
            "the lock at the cloud",
            async () => {
              const answer = await site.client.request("GET", `/lock-holders/${site.lockHolderId}/locks/${lockId}`);
              return answer.status === 200;
            },
            { timeoutMs: 120_000, intervalMs: 20 },
          );
          await lockApplied(lock, "the issuer key at the lock", (l) => l.trustedKids.length > 0);

          ctx.log(`propagation round ${round}/${rounds}: ${rttSamples} MQTT round trips`);
          perRound.rtt.push(await mqttRoundTrips(bridge, rttSamples));

          ctx.log(`propagation round ${round}/${rounds}: create ${keys} keys, then revoke them`);
          const created: Array<{ keyId: string; cti: string }> = [];
          const create: number[] = [];
          for (let i = 0; i < keys; i++) {
            const userId = `+4791${String(round * 10_000 + i).padStart(6, "0")}`;
            const started = performance.now();
            const key = await site.client.createKey(site.lockHolderId, lockId, { userId, durationMinutes: 60 });
            let cti = "";
            await lockApplied(lock, `the grant of ${key.id} at the lock`, (l) => {
              const grant = l.grants.find((g) => g.sub === userId);
              if (grant) cti = toHex(grant.cti);
              return grant !== undefined;
            });
            create.push(performance.now() - started);
            created.push({ keyId: key.id, cti });
          }
          const revoke: number[] = [];
          for (const { keyId, cti } of created) {
            const started = performance.now();
            await site.client.revokeKey(site.lockHolderId, keyId);
            await lockApplied(lock, `the revocation of ${keyId} at the lock`, (l) => l.revoked.includes(cti));
            revoke.push(performance.now() - started);
          }
          perRound.create.push(create);
          perRound.revoke.push(revoke);
        } finally {
          await lock.stop();
        }
      }
      const at = (xs: number[][], p: number) => median(xs.map((x) => percentile(x, p)));
      const rtt = { 50: at(perRound.rtt, 50), 99: at(perRound.rtt, 99) };
      const list = (xs: number[][], p: number) => xs.map((x) => percentile(x, p).toFixed(1)).join(", ");
      return (["create", "revoke"] as const).flatMap((what) =>
        ([50, 99] as const).map((p) => {
          const value = at(perRound[what], p);
          const p99 = at(perRound[what], 99);
          return row(spec(what, p), {
            value,
            baseline: rtt[p],
            ratio: rtt[p] / value,
            met: p99 <= 100,
            note:
              `${what} → applied at a lock-sim lock (cloud change feed long-poll → latchkey-bridge → MQTT sync → ` +
              `lock flash), ${keys} keys one after the other per round; p${p} per round ${list(perRound[what], p)} ms, ` +
              `median of ${rounds}. Baseline: p${p} of an MQTT QoS 1 round trip (publish → subscriber → echo) on the ` +
              `bridge's broker, ${rttSamples} per round (${list(perRound.rtt, p)} ms); ratio = baseline / value. ` +
              `${load()}`,
          });
        }),
      );
    } finally {
      await cleanup.run();
    }
  },
};
