import { Phone, seededRandom, VirtualRadio } from "@latchkey/lock-sim";
import {
  decodeSync,
  deriveLockPassword,
  encodeStatus,
  encodeTelemetry,
  ManualClock,
  Topics,
  toHex,
} from "@latchkey/protocol";
import { pollUntil } from "@latchkey/scripts";
import mqtt from "mqtt";
import { describe, expect, it } from "vitest";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { ReliabilitySite } from "../src/reliability/site.js";

/**
 * Review issue 12, findings 1, 5 and 6: what stays on a lock's trust lists (revocations, issuer keys) and the sync
 * version that carries them (docs/mqtt.md "Sync versions"). Cloud and bridge run in this process on one manual clock,
 * so days pass at once; the locks are simulated on the same clock.
 */
const file = new ReliabilityFile("review-trust-lists");
const { tally, logs, secrets } = file;

const DAY_MS = 86_400_000;
const T0 = 1_800_000_000_000;

async function site(
  seed: string,
  clock: ManualClock,
  settings: Record<string, unknown> = {},
): Promise<ReliabilitySite> {
  const s = await ReliabilitySite.start(file.resources, logs, secrets, { seed, clock, cloud: { settings } });
  await s.startBridge();
  await s.bridge!.ready;
  return s;
}

/** A phone registered through the app API (the one-time code read from the cloud's log). */
async function phoneFor(s: ReliabilitySite, clock: ManualClock, number: string): Promise<Phone> {
  const phone = new Phone({ clock, random: seededRandom(`review-12-phone-${number}`) });
  file.resources.defer(`close phone ${number}`, () => phone.close());
  const started = await phone.requestVerification(s.cloud.url, number);
  const record = await pollUntil(
    `the one-time code for ${number}`,
    () => [...logs.records("one-time code")].reverse().find((r) => r.phoneNumber === number),
    { timeoutMs: 15_000, intervalMs: 20 },
  );
  await phone.confirm(s.cloud.url, started.verificationId, String(record.code));
  secrets.add(`app access token ${number}`, phone.accessToken!);
  return phone;
}

describe("review 12: trust lists and sync versions", () => {
  it("12.1: a revoked open-ended key whose start was ahead stays revoked until its last minted token has expired", async () => {
    const clock = new ManualClock(T0);
    // A token lifetime cap above the 30 days of a token without end (the cloud allows up to 366 days).
    const s = await site("r12-1", clock, { maxTokenLifetimeSeconds: 90 * 86_400 });
    const radio = new VirtualRadio();
    const lock = await s.startLock("r12-1-door", { radio });
    await pollUntil("the lock assigned", async () => (await s.client.listLocks(s.lockHolderId)).locks.length === 1);
    await pollUntil("the lock trusts the issuer key", () => lock.trustedKids.length > 0);

    // No end, start 20 days ahead: the prefetched token runs to max(minted, start) + 30 days = T0 + 50 days.
    const start = new Date(T0 + 20 * DAY_MS).toISOString();
    const key = await s.client.createKey(s.lockHolderId, lock.id, { userId: "+4790012001", start });
    const phone = await phoneFor(s, clock, "+4790012001");
    const [token] = await phone.prefetch(s.cloud.url);
    const cti = toHex(token!.claims.cti);
    tally.note("12.1 token lifetime days", (token!.claims.exp * 1000 - T0) / DAY_MS);

    await s.client.revokeKey(s.lockHolderId, key.id);
    await pollUntil("the revocation on the lock", () => lock.revoked.includes(cti));

    // 31 days on: past revokedAt + 30 days + the 300 s margin, inside the token's life. Another change makes the
    // bridge send the lock a fresh list.
    clock.advance(31 * DAY_MS);
    const v = lock.syncVersion;
    await s.client.createKey(s.lockHolderId, lock.id, { userId: "+4790012002" });
    await lock.waitForSyncVersion(v + 1, { timeoutMs: 30_000 });
    expect(lock.revoked, "the cti is still on the lock's revocation list").toContain(cti);
    const outcome = await phone.unlock(lock.id, { radio });
    tally.input();
    expect(outcome).toMatchObject({ ok: false, code: "revoked" });
    tally.refuse();

    // Once the last token has expired (plus the margin) the lock may forget the cti: the list does not grow forever.
    clock.set(token!.claims.exp * 1000 + 301_000);
    const w = lock.syncVersion;
    await s.client.createKey(s.lockHolderId, lock.id, { userId: "+4790012003" });
    await lock.waitForSyncVersion(w + 1, { timeoutMs: 30_000 });
    expect(lock.revoked).not.toContain(cti);
    tally.case("review 12.1: a revoked open-ended key with a future start is refused until its last token expires");
  });

  it("12.5: one version number wedges no lock: the lock refuses the jump, the bridge never follows it", async () => {
    const clock = new ManualClock(T0);
    const s = await site("r12-5", clock);
    const lock = await s.startLock("r12-5-door");
    // A second "lock" on the broker with valid credentials that lies about its version.
    const liarId = "r12-5-liar";
    const topics = new Topics();
    const liar = await mqtt.connectAsync(s.mqttUrl, {
      clientId: liarId,
      username: liarId,
      password: deriveLockPassword(s.siteSecret, liarId),
      reconnectPeriod: 0,
    });
    file.resources.defer("close the lying lock", () => liar.endAsync(true));
    const liarSyncs: Array<{ v: number } | { undecodable: string }> = [];
    liar.on("message", (_topic, payload) => {
      try {
        liarSyncs.push({ v: decodeSync(payload).v });
      } catch (e) {
        liarSyncs.push({ undecodable: (e as Error).message });
      }
    });
    await liar.subscribeAsync(topics.lock(liarId, "sync"), { qos: 1 });
    await liar.publishAsync(topics.lock(liarId, "status"), Buffer.from(encodeStatus("online")), {
      qos: 1,
      retain: true,
    });
    await pollUntil("both locks assigned", async () => (await s.client.listLocks(s.lockHolderId)).locks.length === 2);
    await pollUntil("the lock trusts the issuer key", () => lock.trustedKids.length > 0);
    await pollUntil("a first sync to the liar", () => liarSyncs.length > 0);

    // The lock: a sync at the top of the range is refused whole, and the bridge's next version still applies.
    const v = lock.syncVersion;
    const top = { v: Number.MAX_SAFE_INTEGER, issuers: [], revoked: [], time: Math.floor(T0 / 1000) };
    tally.input();
    expect(lock.applySync(top)).toBe("implausible_version");
    tally.refuse();
    expect(lock.syncVersion).toBe(v);

    // The bridge: a report of 2^53 - 1 is alerted on, not followed.
    tally.input();
    const telemetry = encodeTelemetry({
      lock: liarId,
      ts: Math.floor(T0 / 1000),
      level: 90,
      mv: 3000,
      state: "ok",
      v: Number.MAX_SAFE_INTEGER,
    });
    await liar.publishAsync(topics.lock(liarId, "telemetry"), Buffer.from(telemetry), { qos: 1 });
    await pollUntil("the alert in the bridge's health", () => {
      const versions = s.bridge!.health().syncVersions as { locks: Array<{ lockId: string; reported: number }> };
      return versions.locks.some((l) => l.lockId === liarId && l.reported === Number.MAX_SAFE_INTEGER);
    });
    tally.refuse();
    expect(
      logs.records("lock reported an impossible sync version; not following it (the lock may need re-provisioning)"),
    ).not.toHaveLength(0);
    const metrics = await (await fetch(`${s.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/latchkey_bridge_sync_version_alerts_total\{reason="implausible_report"\} 1/);

    // New keys for both: every sync either gets decodes with a safe v, and the real lock applies its next version.
    const seen = liarSyncs.length;
    await s.client.createKey(s.lockHolderId, liarId, { userId: "+4790012501" });
    await s.client.createKey(s.lockHolderId, lock.id, { userId: "+4790012502" });
    await lock.waitForSyncVersion(v + 1, { timeoutMs: 30_000 });
    await pollUntil("a new sync to the liar", () => liarSyncs.length > seen);
    for (const sync of liarSyncs) {
      expect(sync).toHaveProperty("v");
      expect(Number.isSafeInteger((sync as { v: number }).v) && (sync as { v: number }).v < 1000).toBe(true);
    }
    tally.case("review 12.5: a sync version at 2^53 - 1 is refused by the lock and not followed by the bridge");
  });

  it("12.6: a leaked issuer key is retired now: locks stop trusting it at the next sync, phones get re-minted tokens", async () => {
    const clock = new ManualClock(T0);
    const s = await site("r12-6", clock);
    const radio = new VirtualRadio();
    const lock = await s.startLock("r12-6-door", { radio });
    await pollUntil("the lock assigned", async () => (await s.client.listLocks(s.lockHolderId)).locks.length === 1);
    // A key with an end two years ahead: its token still runs out within the 30-day cap.
    const end = new Date(T0 + 730 * DAY_MS).toISOString();
    await s.client.createKey(s.lockHolderId, lock.id, { userId: "+4790012601", end });
    const phone = await phoneFor(s, clock, "+4790012601");
    const [before] = await phone.prefetch(s.cloud.url);
    expect(before!.claims.exp).toBe(Math.floor(T0 / 1000) + 30 * 86_400);
    const [leaked] = (await s.client.listIssuerKeys(s.lockHolderId)).filter((k) => k.active);
    await pollUntil("the lock trusts the issuer key", () => lock.trustedKids.includes(leaked!.kid));
    expect(await phone.unlock(lock.id, { radio })).toMatchObject({ ok: true });

    const retired = await s.client.retireIssuerKey(s.lockHolderId, leaked!.kid);
    expect(retired.retired).not.toBeNull();
    await pollUntil("the lock no longer trusts the leaked key", () => !lock.trustedKids.includes(leaked!.kid));
    tally.input();
    expect(await phone.unlock(lock.id, { radio })).toMatchObject({ ok: false, code: "unknown_issuer" });
    tally.refuse();

    // The next prefetch: the same key under the current issuer key, which the lock trusts.
    const [after] = await phone.prefetch(s.cloud.url);
    expect(toHex(after!.claims.cti)).toBe(toHex(before!.claims.cti));
    const [current] = (await s.client.listIssuerKeys(s.lockHolderId)).filter((k) => k.active);
    expect(current!.kid).not.toBe(leaked!.kid);
    await pollUntil("the lock trusts the current key", () => lock.trustedKids.includes(current!.kid));
    expect(await phone.unlock(lock.id, { radio })).toMatchObject({ ok: true });
    tally.case("review 12.6: a retired (leaked) issuer key's tokens are refused at the lock after its next sync");
    tally.case("review 12.6: no token lives more than the 30-day lifetime cap, whatever the key's end");
  });
});
