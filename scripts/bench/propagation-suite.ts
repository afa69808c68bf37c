import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Phone, type SimLock, startLock, VirtualRadio } from "@latchkey/lock-sim";
import { toHex } from "@latchkey/protocol";
import mqtt from "mqtt";
import { oneTimeCode } from "../src/stack/cloud-process.js";
import { Cleanup } from "./cleanup.js";
import { loadSpan } from "./machine.js";
import { type BenchContext, type BenchRow, type BenchSuite, median, percentile, type RowSpec, row } from "./rows.js";
import { type BenchBridge, type BenchCloud, startBenchBridge, startBenchSite, tempDir } from "./site.js";

const revokeSpec = (p: 50 | 99): RowSpec => ({
  name: `key-propagation-revoke-p${p}`,
  unit: "ms",
  target: "p99 <= 100 ms",
});
const doorSpec = (p: 50 | 99): RowSpec => ({ name: `key-to-door-p${p}`, unit: "ms", target: "p99 <= 100 ms" });
const SPECS = [doorSpec(50), doorSpec(99), revokeSpec(50), revokeSpec(99)];
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

/** A phone registered through the app API, its one-time code read from the bench cloud's log. */
async function registeredPhone(cloud: BenchCloud, phoneNumber: string): Promise<Phone> {
  const phone = new Phone();
  const since = cloud.child.lineCount;
  const started = await phone.requestVerification(cloud.url, phoneNumber);
  await phone.confirm(cloud.url, started.verificationId, await oneTimeCode(cloud.child, phoneNumber, since));
  return phone;
}

/**
 * Keys on a whole site on the signed path (docs/design.md section 7): cloud, bridge and a lock-sim lock, each real
 * (cloud and bridge as processes, the lock in this one), the lock claimed with its setup code. No key travels to the
 * lock any more (no grants on the wire): a new key reaches the door in the phone's prefetch. Key to door: from `POST
 * …/keys` until the phone has prefetched the token (`GET /app/v1/keys`) and the lock opened for it over the virtual
 * BLE radio. Revoke: from `PUT …/keys/{id}` `{state: "revoked"}` until the lock applied a signed state listing the cti
 * (cloud change feed long-poll → latchkey-bridge fetches the state → MQTT `state`, retained → verified at the lock).
 * One key at a time, each revoked before the next; a fresh lock per round. Figures are medians over rounds of each
 * round's percentile.
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
      const { site, cloud } = await startBenchSite(cleanup, dir, "bench-propagation", profile);
      const bridge = await startBenchBridge(site, { ...profile, accounts: [PING, ECHO] });
      const radio = new VirtualRadio();
      const perRound = { door: [] as number[][], revoke: [] as number[][], rtt: [] as number[][] };
      for (let round = 1; round <= rounds; round++) {
        const lockId = `prop-lock-${round}`;
        const userId = `+4791${String(round).padStart(6, "0")}`;
        const lock = await startLock({
          lockId,
          dataDir: join(dir, "locks"),
          mqttUrl: bridge.mqttUrl,
          siteSecret: bridge.siteSecret,
          radio,
          telemetryIntervalSeconds: 0,
        });
        const phone = await registeredPhone(cloud, userId);
        try {
          // Claimed with its setup code; once the bridge relayed its signed state and a time answer, keys open it.
          await site.client.claimLock(site.lockHolderId, lock.setupCode);
          await lockApplied(lock, "a signed state and time at the lock", (l) => l.trustedKids.length > 0 && l.clockSet);

          ctx.log(`propagation round ${round}/${rounds}: ${rttSamples} MQTT round trips`);
          perRound.rtt.push(await mqttRoundTrips(bridge, rttSamples));

          ctx.log(`propagation round ${round}/${rounds}: ${keys} keys, each to the door and revoked`);
          const door: number[] = [];
          const revoke: number[] = [];
          for (let i = 0; i < keys; i++) {
            let started = performance.now();
            const key = await site.client.createKey(site.lockHolderId, lockId, { userId, durationMinutes: 60 });
            const held = (await phone.prefetch(cloud.url)).find((k) => k.keyId === key.id);
            if (!held) throw new Error(`the prefetch did not carry ${key.id}`);
            const opened = await phone.unlock(lockId, { radio });
            if (!opened.ok || opened.keyId !== key.id)
              throw new Error(`${lockId} did not open for ${key.id}: ${JSON.stringify(opened)}`);
            door.push(performance.now() - started);

            const cti = toHex(held.claims.cti);
            started = performance.now();
            await site.client.revokeKey(site.lockHolderId, key.id);
            await lockApplied(lock, `the revocation of ${key.id} at the lock`, (l) => l.revoked.includes(cti));
            revoke.push(performance.now() - started);
          }
          perRound.door.push(door);
          perRound.revoke.push(revoke);
        } finally {
          phone.close();
          await lock.stop();
        }
      }
      const at = (xs: number[][], p: number) => median(xs.map((x) => percentile(x, p)));
      const rtt = { 50: at(perRound.rtt, 50), 99: at(perRound.rtt, 99) };
      const list = (xs: number[][], p: number) => xs.map((x) => percentile(x, p).toFixed(1)).join(", ");
      const perRoundNote = (xs: number[][], p: number) =>
        `p${p} per round ${list(xs, p)} ms, median of ${rounds}. ${load()}`;
      return [
        ...([50, 99] as const).map((p) =>
          row(doorSpec(p), {
            value: at(perRound.door, p),
            baseline: null,
            ratio: null,
            met: at(perRound.door, 99) <= 100,
            note:
              `POST …/keys → the phone's prefetch (GET /app/v1/keys: the token, and the lock's signed state) → ` +
              `unlocked over the virtual BLE radio (ping, challenge, token + proof verified at the lock), ${keys} ` +
              `keys one after the other per round, each revoked before the next; ${perRoundNote(perRound.door, p)}`,
          }),
        ),
        ...([50, 99] as const).map((p) => {
          const value = at(perRound.revoke, p);
          return row(revokeSpec(p), {
            value,
            baseline: rtt[p],
            ratio: rtt[p] / value,
            met: at(perRound.revoke, 99) <= 100,
            note:
              `PUT …/keys/{id} revoked → a signed state listing the cti applied at a lock-sim lock (cloud change feed ` +
              `long-poll → latchkey-bridge fetches the lock's state → MQTT state, retained → verified and applied), ` +
              `${keys} keys per round. Baseline: p${p} of an MQTT QoS 1 round trip (publish → subscriber → echo) on ` +
              `the bridge's broker, ${rttSamples} per round (${list(perRound.rtt, p)} ms); ratio = baseline / value. ` +
              perRoundNote(perRound.revoke, p),
          });
        }),
      ];
    } finally {
      await cleanup.run();
    }
  },
};
