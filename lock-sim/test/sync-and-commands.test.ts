import { encodeCbor, encodeCommand, encodeSync, MAX_SYNC_V_STEP, ManualClock, toHex } from "@latchkey/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimLock, seededRandom, startLock } from "../src/index.js";
import { startTestBroker, type TestBroker } from "./helpers/broker.js";
import { unlockDirect } from "./helpers/direct.js";
import { claimsFor, cti, makeDevice, makeIssuer, mint, T0 } from "./helpers/keys.js";
import { Observer } from "./helpers/observer.js";
import { TempDirs } from "./helpers/tmp.js";

const SITE_SECRET = "site-secret-for-tests-0123456789";
const factory = makeIssuer("factory");
const rotated = makeIssuer("rotated");
const device = makeDevice("sync");
const LOCK = "s-1";

/** A small-order point: a key anyone can "sign" for. A sync carrying it must not make the lock trust it. */
const WEAK_KEY = new Uint8Array(32);
WEAK_KEY[0] = 1;

describe("sync and commands over MQTT", () => {
  const tmp = new TempDirs();
  const clock = new ManualClock(T0 * 1000);
  let broker: TestBroker;
  let observer: Observer;
  let lock: SimLock;

  beforeAll(async () => {
    broker = await startTestBroker({ siteSecret: SITE_SECRET });
    observer = await Observer.connect(broker.url);
    lock = await startLock({
      lockId: LOCK,
      dataDir: tmp.make(),
      mqttUrl: broker.url,
      siteSecret: SITE_SECRET,
      clock,
      random: seededRandom("sync"),
      trust: [factory.trusted],
      tickIntervalMs: 0,
      relockSeconds: 0,
    });
  });

  afterAll(async () => {
    await lock.stop();
    await observer.close();
    await broker.close();
    tmp.cleanup();
  });

  const tryKey = (from = rotated) =>
    unlockDirect(lock, mint(from, claimsFor(LOCK, device.publicKey)), device.secretKey);

  it("applies a newer sync: issuers, revocations, grants; reports v by event and telemetry", async () => {
    expect(tryKey().code).toBe("unknown_issuer");
    const grant = { cti: cti(), sub: "+4790000001", nbf: T0, exp: T0 + 3600 };
    await observer.sync(LOCK, { v: 1, issuers: [rotated.sync], grants: [grant], revoked: [], time: T0 });
    const applied = await observer.waitForEvent(LOCK, (e) => e.type === "sync_applied");
    expect(applied.v).toBe(1);
    await observer.waitFor(() => observer.telemetry.find((t) => t.v === 1), "telemetry with v 1");
    expect(lock.grants).toEqual([grant]);
    expect(tryKey().ok).toBe(true);
    lock.tick();
  });

  it("ignores a sync that is not newer (no event, nothing changes)", async () => {
    const before = lock.events.length;
    await observer.sync(LOCK, { v: 1, issuers: [], revoked: [cti()], time: T0 });
    await observer.sync(LOCK, { v: 2, issuers: [rotated.sync], revoked: [], time: T0 });
    await lock.waitForSyncVersion(2);
    const types = lock.events.slice(before).map((e) => e.type);
    expect(types).toEqual(["sync_applied"]);
    expect(lock.revoked).toEqual([]);
  });

  it("a later sync replaces the synced issuers (a retired key stops working); factory keys stay", async () => {
    await observer.sync(LOCK, { v: 3, issuers: [], revoked: [], time: T0 });
    await lock.waitForSyncVersion(3);
    expect(tryKey().code).toBe("unknown_issuer");
    expect(tryKey(factory).ok).toBe(true);
    lock.tick();
  });

  it("refuses a weak (small-order) issuer key from sync but applies the rest", async () => {
    const revoked = cti();
    await observer.sync(LOCK, {
      v: 4,
      issuers: [{ kid: new Uint8Array([9]), x: WEAK_KEY }],
      revoked: [revoked],
      time: T0,
    });
    await lock.waitForSyncVersion(4);
    expect(lock.trustedKids).toEqual([toHex(factory.kid)]);
    expect(lock.revoked).toEqual([toHex(revoked)]);
  });

  it("survives garbage on the sync topic", async () => {
    await observer.sync(LOCK, new Uint8Array([0xa1, 0x61, 0x76, 0x20])); // {"v": -1}
    await observer.sync(LOCK, encodeCbor({ v: 99, issuers: "nope", revoked: [], time: T0 }));
    await observer.sync(LOCK, { v: 5, issuers: [], revoked: [], time: T0 });
    await lock.waitForSyncVersion(5);
    expect(lock.syncVersion).toBe(5);
  });

  it("answers ping, lock, and gateway commands on cmd; refuses a bad command naming why", async () => {
    expect(await observer.command(LOCK, { id: "p1", type: "ping" })).toMatchObject({ ok: true, state: "locked", v: 5 });
    const sync = encodeSync({ v: 6, issuers: [rotated.sync], revoked: [], time: T0 });
    expect(await observer.command(LOCK, { id: "s6", type: "sync", sync })).toMatchObject({ ok: true, v: 6 });
    const events = await observer.command(LOCK, { id: "e1", type: "events", after: 0 });
    // over MQTT every event was already acknowledged by PUBACK: the ring buffer has nothing left to hand out
    expect(events).toMatchObject({ ok: true, events: [] });
    const bad = encodeCbor({ id: "x1", type: "unlock", token: new Uint8Array(3) });
    expect(await observer.commandRaw(LOCK, bad, "x1")).toMatchObject({ ok: false, code: "invalid_command" });
    const unknown = encodeCbor({ id: "x2", type: "selfdestruct" });
    const r = await observer.commandRaw(LOCK, unknown, "x2");
    expect(r).toMatchObject({ ok: false, code: "invalid_command" });
    expect(r.message).toMatch(/type/);
    const noId = encodeCommand({ id: "x3", type: "ping" }).subarray(0, 4);
    expect(await observer.commandRaw(LOCK, noId, "unknown")).toMatchObject({ ok: false, code: "invalid_command" });
    expect(broker.violations).toEqual([]);
  });

  it("refuses a sync whose version jumps implausibly far, whole, so one message cannot wedge it (review 12.5)", async () => {
    const current = lock.syncVersion;
    const revoked = cti();
    const top = { v: Number.MAX_SAFE_INTEGER, issuers: [], revoked: [revoked], time: T0 + 86_400 };
    expect(lock.applySync(top)).toBe("implausible_version");
    const byCommand = await observer.command(LOCK, { id: "s-top", type: "sync", sync: encodeSync(top) });
    expect(byCommand).toMatchObject({ ok: false, code: "implausible_version", v: current });
    expect(lock.syncVersion).toBe(current);
    expect(lock.revoked).not.toContain(toHex(revoked));
    // Not even its time: the message is not believed at all.
    expect(lock.time ?? 0).toBeLessThan(T0 + 86_400);
    // The bridge's next version still applies, and so does the largest jump the rule allows.
    await observer.sync(LOCK, { v: current + 1, issuers: [rotated.sync], revoked: [], time: T0 });
    await lock.waitForSyncVersion(current + 1);
    await observer.sync(LOCK, { v: current + 1 + MAX_SYNC_V_STEP, issuers: [rotated.sync], revoked: [], time: T0 });
    await lock.waitForSyncVersion(current + 1 + MAX_SYNC_V_STEP);
  });
});
