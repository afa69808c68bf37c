import {
  commandResultBinding,
  decodeTimeRequest,
  encodeCbor,
  encodeCommand,
  ManualClock,
  NONCE_TTL_MS,
  toHex,
} from "@latchkey/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimLock, seededRandom, startLock } from "../src/index.js";
import { startTestBroker, type TestBroker } from "./helpers/broker.js";
import { command, makeAuthority, TestCloud } from "./helpers/cloud.js";
import { unlockDirect } from "./helpers/direct.js";
import { claimsFor, makeDevice, makeIssuer, mint, T0 } from "./helpers/keys.js";
import { Observer } from "./helpers/observer.js";
import { TempDirs } from "./helpers/tmp.js";

/**
 * The lock on the signed path over MQTT (docs/design.md section 7, docs/trust.md "Lock"): a state on its `state`
 * topic or by the `state` command, signed time on `time/request` / `time/answer`, remote commands, and what it refuses.
 * The bridge is played by the Observer, the cloud by TestCloud (protocol's own signers).
 */
const SITE_SECRET = "site-secret-for-tests-0123456789";
const issuer = makeIssuer("state");
const stranger = makeAuthority("stranger");
const device = makeDevice("state");
const LOCK = "s-1";

describe("signed state, time and commands over MQTT", () => {
  const tmp = new TempDirs();
  const clock = new ManualClock(T0 * 1000);
  const cloud = new TestCloud(clock, issuer);
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
      random: seededRandom("state"),
      tickIntervalMs: 0,
      relockSeconds: 0,
    });
    cloud.enroll(lock);
  });

  afterAll(async () => {
    await lock.stop();
    await observer.close();
    await broker.close();
    tmp.cleanup();
  });

  const tryKey = () => unlockDirect(lock, mint(issuer, claimsFor(LOCK, device.publicKey)), device.secretKey);

  it("before any state: its keys retained at connect, every unlock refused no_state, nothing sealed or sent", async () => {
    const keys = await observer.waitFor(() => observer.keys.get(LOCK), "the lock's keys");
    expect(broker.published.find((p) => p.topic === observer.topics.lock(LOCK, "keys"))?.retain).toBe(true);
    expect(keys.message).toEqual({
      lock: LOCK,
      identity: lock.publicKeys.identityKey,
      x25519: lock.publicKeys.agreementKey,
    });
    expect(tryKey()).toMatchObject({ ok: false, code: "no_state" });
    expect(lock.events.at(-1)).toMatchObject({ type: "denied", code: "no_state" });
    lock.tick();
    const ping = await observer.command(LOCK, { id: "p0", type: "ping" });
    expect(ping).toMatchObject({ ok: true, state: "locked", v: 0 });
    expect(ping.keys).toEqual({ identity: lock.publicKeys.identityKey, x25519: lock.publicKeys.agreementKey });
    // Nothing to ask the time of, and nothing to sign commands with: no authority is pinned.
    expect(await observer.command(LOCK, { id: "t0", type: "time_request" })).toMatchObject({ code: "no_state" });
    expect(await observer.command(LOCK, { id: "n0", type: "command_nonce" })).toMatchObject({ code: "no_state" });
    expect(observer.reports).toEqual([]);
    expect(observer.timeRequests).toEqual([]);
    expect(lock.unacknowledged).toBe(1);
  });

  it("a state on its topic is applied: state_applied with v, signed time asked at once, the waiting events sealed and sent", async () => {
    observer.relay(cloud);
    const doc = cloud.state(LOCK);
    await observer.publishState(LOCK, doc);
    await lock.waitFor((l) => l.stateV > 0 && l.clockSet, "the state and signed time");
    const applied = lock.events.find((e) => e.type === "state_applied")!;
    expect(applied.v).toBe(lock.stateV);
    expect(lock.events.map((e) => [e.seq, e.type, e.code])).toEqual([
      [1, "denied", "no_state"],
      [2, "state_applied", undefined],
      [3, "clock_set", "unset"],
    ]);
    expect(tryKey()).toMatchObject({ ok: true, state: "unlocked" });
    lock.tick(); // re-lock
    await observer.waitFor(() => (cloud.events(LOCK).length === 5 ? true : undefined), "five events at the cloud");
    expect(cloud.events(LOCK).map((e) => e.type)).toEqual([
      "denied",
      "state_applied",
      "clock_set",
      "unlocked",
      "locked",
    ]);
    expect(cloud.verdicts.every((v) => v.verdict === "ok")).toBe(true);
    const telemetry = await observer.waitFor(() => cloud.telemetry(LOCK).find((t) => t.v === lock.stateV), "telemetry");
    expect(telemetry).toMatchObject({ lock: LOCK, level: 100 });
    // Delivered, yet still in flash: only the signed ack frees them.
    await lock.waitForDelivered();
    expect(lock.unacknowledged).toBe(5);
    await observer.publishState(LOCK, cloud.state(LOCK));
    await lock.waitFor((l) => l.unacknowledged === 1, "the ack to free the five");
    expect(lock.events.at(-1)).toMatchObject({ type: "state_applied", seq: 6 });
  });

  it("refuses a state of another authority, and a replayed or older one: nothing changes, the command names why", async () => {
    const before = lock.stateV;
    const rival = cloud.state(LOCK, {}, stranger);
    expect(await observer.command(LOCK, { id: "r1", type: "state", doc: rival })).toMatchObject({
      ok: false,
      code: "wrong_authority",
      v: before,
    });
    const older = cloud.state(LOCK);
    const newer = cloud.state(LOCK);
    const applied = await observer.command(LOCK, { id: "r2", type: "state", doc: newer });
    expect(applied.ok).toBe(true);
    const v = applied.v!;
    expect(v).toBeGreaterThan(before);
    const events = lock.events.length;
    await observer.publishState(LOCK, older); // on the topic: logged and dropped
    await observer.publishState(LOCK, rival);
    await observer.publishState(LOCK, new Uint8Array([0xd2, 0x84, 0x40])); // garbage
    await observer.publishState(LOCK, encodeCbor({ v: 99 }));
    expect(await observer.command(LOCK, { id: "r3", type: "state", doc: older })).toMatchObject({
      code: "stale_version",
    });
    expect(await observer.command(LOCK, { id: "r4", type: "state", doc: newer })).toMatchObject({
      code: "stale_version",
    });
    expect(lock.stateV).toBe(v);
    expect(lock.events.length).toBe(events);
    expect(lock.trust.authority).toEqual(cloud.authority.publicKey);
  });

  it("a time answer to a stale nonce is refused; the lock asks again and takes a prompt one", async () => {
    observer.relay(cloud, { answerTime: false });
    lock.resetClock();
    expect(lock.clockSet).toBe(false);
    expect(tryKey()).toMatchObject({ ok: false, code: "clock_unset" });
    const asked = observer.timeRequests.length;
    lock.tick(); // the clock needs time: a request goes out
    const first = await observer.waitFor(() => observer.timeRequests[asked], "a time request");
    expect(decodeTimeRequest(first.bytes).lock).toBe(LOCK);
    clock.advance(NONCE_TTL_MS + 1);
    const late = cloud.answerTime(first.bytes);
    const refused = await observer.command(LOCK, { id: "ta1", type: "time_answer", answer: late });
    expect(refused).toMatchObject({ ok: false, code: "nonce_expired" });
    expect(lock.clockSet).toBe(false);
    observer.relay(cloud);
    lock.tick(); // 30 s on: asked again
    await lock.waitFor((l) => l.clockSet, "a prompt time answer");
    expect(lock.events.at(-1)).toMatchObject({ type: "clock_set", code: "unset" });
    expect(tryKey().ok).toBe(true);
    lock.tick();
  });

  it("answers ping with its state, v and keys; refuses a bad command naming why", async () => {
    const ping = await observer.command(LOCK, { id: "p1", type: "ping" });
    expect(ping).toMatchObject({ ok: true, state: "locked", v: lock.stateV });
    const bad = encodeCbor({ id: "x1", type: "unlock", token: new Uint8Array(3) });
    expect(await observer.commandRaw(LOCK, bad, "x1")).toMatchObject({ ok: false, code: "invalid_command" });
    const gone = encodeCbor({ id: "x2", type: "sync", sync: new Uint8Array(3) });
    const r = await observer.commandRaw(LOCK, gone, "x2");
    expect(r).toMatchObject({ ok: false, code: "invalid_command" });
    expect(r.message).toMatch(/type/);
    const noId = encodeCommand({ id: "x3", type: "ping" }).subarray(0, 4);
    expect(await observer.commandRaw(LOCK, noId, "unknown")).toMatchObject({ ok: false, code: "invalid_command" });
  });

  it("remote commands: done with the cmd binding; replayed, reordered or forged ones refused, emitting nothing", async () => {
    const n1 = (await observer.command(LOCK, { id: "cn1", type: "command_nonce" })).nonce!;
    const n2 = (await observer.command(LOCK, { id: "cn2", type: "command_nonce" })).nonce!;
    const first = cloud.command(LOCK, n1);
    const second = cloud.command(LOCK, n2);
    const events = lock.events.length;
    expect(await observer.command(LOCK, { id: "rc2", type: "remote", command: second })).toMatchObject({
      ok: true,
      state: "unlocked",
    });
    const unlocked = lock.events.at(-1)!;
    expect(unlocked).toMatchObject({ type: "unlocked" });
    expect(unlocked.key).toBeUndefined();
    expect(toHex(unlocked.cmd!)).toBe(toHex(commandResultBinding(n2)));
    // Held back and played after a later one: its counter is stale. The later one again: its nonce is spent.
    expect(await observer.command(LOCK, { id: "rc1", type: "remote", command: first })).toMatchObject({
      ok: false,
      code: "stale_counter",
    });
    expect(await observer.command(LOCK, { id: "rc2b", type: "remote", command: second })).toMatchObject({
      ok: false,
      code: "bad_nonce",
    });
    expect(lock.events.length).toBe(events + 1);
    lock.tick(); // auto re-lock, as after a key
    expect(lock.events.at(-1)).toMatchObject({ type: "locked" });
    expect(lock.events.at(-1)!.cmd).toBeUndefined();

    const n3 = (await observer.command(LOCK, { id: "cn3", type: "command_nonce" })).nonce!;
    const forged = (await observer.command(LOCK, { id: "cn4", type: "command_nonce" })).nonce!;
    expect(
      await observer.command(LOCK, {
        id: "rf",
        type: "remote",
        command: command(LOCK, forged, 99, stranger),
      }),
    ).toMatchObject({ ok: false, code: "wrong_authority" });
    const lockCommand = cloud.command(LOCK, n3, "lock");
    expect(await observer.command(LOCK, { id: "rc3", type: "remote", command: lockCommand })).toMatchObject({
      ok: true,
      state: "locked",
    });
    expect(lock.events.at(-1)).toMatchObject({ type: "locked" });
    expect(toHex(lock.events.at(-1)!.cmd!)).toBe(toHex(commandResultBinding(n3)));
    // The cloud learns of both from the lock's own sealed events.
    const bindings = await observer.waitFor(() => {
      const found = cloud.events(LOCK).filter((e) => e.cmd !== undefined);
      return found.length === 2 ? found.map((e) => toHex(e.cmd!)) : undefined;
    }, "both command results at the cloud");
    expect(bindings).toEqual([toHex(commandResultBinding(n2)), toHex(commandResultBinding(n3))]);
  });

  it("never stepped outside its MQTT ACL", () => {
    expect(broker.violations).toEqual([]);
  });
});
