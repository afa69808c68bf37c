import { Phone, seededRandom, VirtualRadio } from "@latchkey/lock-sim";
import {
  deriveLockPassword,
  encodeLockKeys,
  encodeStatus,
  fromBase64Url,
  keyPairFromSeed,
  ManualClock,
  sealReport,
  signLockState,
  Topics,
  toBase64Url,
  toHex,
  verifyLockState,
} from "@latchkey/protocol";
import { pollUntil } from "@latchkey/scripts";
import mqtt from "mqtt";
import { describe, expect, it } from "vitest";
import { accessToken, call } from "../src/reliability/bridge-api.js";
import { PaperLock } from "../src/reliability/paper-lock.js";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { ReliabilitySite } from "../src/reliability/site.js";

/**
 * Review issue 12, findings 1, 5 and 6: what stays on a lock's trust lists (revocations, issuer keys) and the version
 * that carries them, now the `v` of the authority's signed state (docs/design.md section 7, docs/trust.md "Lock
 * state"). Cloud and bridge run in this process on one manual clock, so days pass at once; the locks are simulated on
 * the same clock.
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

describe("review 12: trust lists and the signed state's version", () => {
  it("12.1: a revoked open-ended key whose start was ahead stays revoked until its last minted token has expired", async () => {
    const clock = new ManualClock(T0);
    // A token lifetime cap above the 30 days of a token without end (the cloud allows up to 366 days).
    const s = await site("r12-1", clock, { maxTokenLifetimeSeconds: 90 * 86_400 });
    const radio = new VirtualRadio();
    const lock = await s.startLock("r12-1-door", { radio });
    await pollUntil("the lock assigned", async () => (await s.client.listLocks(s.lockHolderId)).locks.length === 1);
    await s.waitForTrust(lock);
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
    // bridge fetch the lock's state, which the cloud signs afresh (it is older than an hour).
    clock.advance(31 * DAY_MS);
    await s.client.createKey(s.lockHolderId, lock.id, { userId: "+4790012002" });
    await lock.waitFor(signedSince(clock), "a state signed after the move", { timeoutMs: 30_000 });
    expect(lock.revoked, "the cti is still on the lock's revocation list").toContain(cti);
    const outcome = await phone.unlock(lock.id, { radio });
    tally.input();
    expect(outcome).toMatchObject({ ok: false, code: "revoked" });
    tally.refuse();

    // Once the last token has expired (plus the margin) the lock may forget the cti: the list does not grow forever.
    clock.set(token!.claims.exp * 1000 + 301_000);
    await s.client.createKey(s.lockHolderId, lock.id, { userId: "+4790012003" });
    await lock.waitFor(signedSince(clock), "a state signed after the move", { timeoutMs: 30_000 });
    expect(lock.revoked).not.toContain(cti);
    tally.case("review 12.1: a revoked open-ended key with a future start is refused until its last token expires");
  });

  it("12.5: one version number wedges no lock: v is the authority's to sign, a forged or altered high v is refused, no lock's word moves it", async () => {
    const clock = new ManualClock(T0);
    const s = await site("r12-5", clock);
    const lock = await s.startLock("r12-5-door");
    await pollUntil("the lock assigned", async () => (await s.client.listLocks(s.lockHolderId)).locks.length === 1);
    await s.waitForTrust(lock);
    const v = lock.stateV;
    const genuine = lock.signedState!;

    // A state at the top of the range is worth nothing without the authority's signature: signed by another key, or
    // the genuine document with its v changed, the lock refuses it whole and keeps its state.
    const attacker = keyPairFromSeed(new Uint8Array(32).fill(0x5e));
    const top = { ...genuine, v: Number.MAX_SAFE_INTEGER, iat: Math.floor(clock.now() / 1000) };
    const forged = signLockState(top, { secretKey: attacker.secretKey });
    tally.input();
    expect(lock.command({ id: "r12-5-forged", type: "state", doc: forged })).toMatchObject({
      ok: false,
      code: "wrong_authority",
    });
    tally.refuse();
    // The genuine document as the cloud hands it to the lock's bridge (the test speaks the bridge API).
    const bridgeToken = await accessToken(s.apiUrl, s.bridgeId, s.bridgeSecret, "bridge");
    secrets.add("bridge access token", bridgeToken);
    const fetched = await call(s.apiUrl, "GET", `/bridge/v1/locks/${lock.id}/state`, { token: bridgeToken });
    const altered = alterV(fromBase64Url(fetched.body.state), fetched.body.v, Number.MAX_SAFE_INTEGER);
    tally.input();
    const refused = lock.command({ id: "r12-5-altered", type: "state", doc: altered });
    expect(refused.ok).toBe(false);
    expect(refused.code).toBe("bad_signature");
    tally.refuse();
    // It runs the cloud's versions still (its first events acknowledged may have brought a newer one meanwhile).
    expect(lock.stateV).toBeGreaterThanOrEqual(v);
    expect(lock.stateV).toBeLessThanOrEqual(clock.now() + 1000);

    // A claimed lock (played by the test) that says in its own authentic telemetry it runs v 2^53 - 1: the cloud
    // takes the report and keeps making its versions from its own clock.
    const liar = new PaperLock("r12-5-liar").track(secrets);
    await s.client.claimLock(s.lockHolderId, liar.setupCode);
    const topics = new Topics();
    const line = await mqtt.connectAsync(s.mqttUrl, {
      clientId: liar.lockId,
      username: liar.lockId,
      password: deriveLockPassword(s.siteSecret, liar.lockId),
      reconnectPeriod: 0,
    });
    file.resources.defer("close the lying lock", () => line.endAsync(true));
    const liarStates: Uint8Array[] = [];
    line.on("message", (_topic, payload) => liarStates.push(new Uint8Array(payload)));
    await line.subscribeAsync(topics.lock(liar.lockId, "state"), { qos: 1 });
    const keys = encodeLockKeys({ lock: liar.lockId, identity: liar.identityPublic, x25519: liar.agreement.publicKey });
    await line.publishAsync(topics.lock(liar.lockId, "keys"), Buffer.from(keys), { qos: 1, retain: true });
    await line.publishAsync(topics.lock(liar.lockId, "status"), Buffer.from(encodeStatus("online")), {
      qos: 1,
      retain: true,
    });
    await pollUntil("the liar's first state", () => liarStates.length > 0, { timeoutMs: 30_000 });
    const liarState = liar.readState(toBase64Url(liarStates[0]!));
    const telemetry = sealReport({
      kind: "telemetry",
      telemetry: { lock: liar.lockId, ts: Math.floor(T0 / 1000), level: 90, mv: 3000, state: "ok", v: 2 ** 53 - 1 },
      key: liar.reportKey(liarState),
      cloudKeyId: liarState.reportKey.id,
      ctr: 1,
    });
    tally.input();
    await line.publishAsync(topics.lock(liar.lockId, "telemetry"), Buffer.from(telemetry), { qos: 1 });
    await pollUntil(
      "the liar's reading accepted",
      async () => (await s.client.getLock(s.lockHolderId, liar.lockId)).battery !== null,
      {
        timeoutMs: 30_000,
      },
    );

    // A change for every lock (a new issuer key): each gets a newer state, v the cloud's own (its clock in ms, or
    // one more than the last), and the real lock, frozen by nothing, applies it.
    const seen = liarStates.length;
    const before = lock.stateV;
    await s.client.rotateIssuerKey(s.lockHolderId);
    await lock.waitFor((l) => l.stateV > before, "the lock's next state", { timeoutMs: 30_000 });
    expect(lock.stateV).toBeLessThanOrEqual(clock.now() + 1000);
    await pollUntil("a new state for the liar", () => liarStates.length > seen, { timeoutMs: 30_000 });
    for (const bytes of liarStates) {
      const verdict = verifyLockState(bytes, { lockId: liar.lockId, claimSecret: liar.claimSecret });
      expect(verdict.ok).toBe(true);
      if (verdict.ok) expect(verdict.state.v).toBeLessThanOrEqual(clock.now() + 1000);
    }
    tally.refuse();
    tally.case(
      "review 12.5: a state at v 2^53 - 1 freezes no lock: forged or altered it is refused (v is the authority's to sign)",
    );
    tally.case(
      "review 12.5: a lock's own word (its telemetry's v at 2^53 - 1) does not move the versions the cloud signs",
    );
  });

  it("12.6: a leaked issuer key is retired now: locks stop trusting it at their next signed state, phones get re-minted tokens", async () => {
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
    await s.waitForTrust(lock);
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
    tally.case(
      "review 12.6: a retired (leaked) issuer key's tokens are refused at the lock after its next signed state",
    );
    tally.case("review 12.6: no token lives more than the 30-day lifetime cap, whatever the key's end");
  });
});

/** The lock runs a state the cloud signed at the manual clock's time or later (not one fetched before it moved). */
const signedSince =
  (clock: ManualClock) =>
  (lock: { signedState: { iat: number } | undefined }): boolean =>
    (lock.signedState?.iat ?? 0) >= Math.floor(clock.now() / 1000);

/**
 * The signed document with its payload's `v` changed from `from` to `to` and the signature left as it was: what a
 * courier can do to a genuine state without the authority's key.
 */
function alterV(doc: Uint8Array, from: number, to: number): Uint8Array {
  const hex = toHex(doc);
  const head = (n: number) => {
    if (n < 2 ** 32) return `1a${n.toString(16).padStart(8, "0")}`;
    return `1b${n.toString(16).padStart(16, "0")}`;
  };
  const at = hex.indexOf(head(from));
  expect(at, "the state's v in its payload").toBeGreaterThan(0);
  return Uint8Array.from(Buffer.from(hex.slice(0, at) + head(to) + hex.slice(at + head(from).length), "hex"));
}
