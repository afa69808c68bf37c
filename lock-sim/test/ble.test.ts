import { createRequire } from "node:module";
import {
  COMMAND_CHAR_UUID,
  INFO_CHAR_UUID,
  keyPairFromSeed,
  LOCK_SERVICE_UUID,
  ManualClock,
  peekCti,
  RESULT_CHAR_UUID,
  toHex,
} from "@latchkey/protocol";
import { BleDisconnectedError } from "@latchkey/protocol/ble";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LOCK_GATT_SERVICES } from "../src/ble/lock-peripheral.js";
import {
  BleUnavailableError,
  CHALLENGES_PER_CONNECTION,
  connectToLock,
  type LockSession,
  type Noble,
  Phone,
  type RadioPdu,
  type SimLock,
  seededRandom,
  startLock,
  VirtualRadio,
} from "../src/index.js";
import { makeAuthority, TestCloud } from "./helpers/cloud.js";
import { claimsFor, makeIssuer, mint, proofFor, T0 } from "./helpers/keys.js";
import { TempDirs } from "./helpers/tmp.js";

const issuer = makeIssuer("ble");
const attacker = makeIssuer("attacker");

describe("BLE: virtual radio, noble central, phone", () => {
  const tmp = new TempDirs();
  const clock = new ManualClock(T0 * 1000);
  const cloud = new TestCloud(clock, issuer);
  let radio: VirtualRadio;
  const locks: SimLock[] = [];
  const nobles: Noble[] = [];
  const phones: Phone[] = [];

  beforeEach(() => {
    radio = new VirtualRadio();
  });

  afterEach(async () => {
    for (const p of phones.splice(0)) p.close();
    for (const n of nobles.splice(0)) n.removeAllListeners();
    for (const l of locks.splice(0)) await l.stop();
    tmp.cleanup();
  });

  /** A lock on the radio; unless told otherwise given its state and signed time straight away by the cloud. */
  async function boot(lockId: string, options: { provision?: boolean } = {}) {
    const lock = await startLock({
      lockId,
      dataDir: tmp.make(),
      clock,
      random: seededRandom(lockId),
      radio,
      tickIntervalMs: 0,
    });
    locks.push(lock);
    cloud.enroll(lock);
    if (options.provision !== false) cloud.provision(lock);
    return lock;
  }

  async function central(): Promise<Noble> {
    const noble = await radio.noble();
    nobles.push(noble);
    return noble;
  }

  it("a central written against noble's public API discovers the lock's service and reads its id", async () => {
    await boot("front-door");
    // exactly the noble a user would write: with-bindings + our bindings object
    const withBindings = createRequire(import.meta.url)("@abandonware/noble/with-bindings");
    const noble: Noble = withBindings(radio.bindings());
    nobles.push(noble);
    const found = new Promise<import("@abandonware/noble").Peripheral>((resolve) => noble.on("discover", resolve));
    await noble.startScanningAsync([LOCK_SERVICE_UUID], false);
    const peripheral = await found;
    await noble.stopScanningAsync();
    expect(peripheral.advertisement.localName).toBe("latchkey-front-door");
    expect(peripheral.advertisement.serviceUuids).toEqual([LOCK_SERVICE_UUID]);
    await peripheral.connectAsync();
    const { characteristics } = await peripheral.discoverSomeServicesAndCharacteristicsAsync(
      [LOCK_SERVICE_UUID],
      [COMMAND_CHAR_UUID, RESULT_CHAR_UUID, INFO_CHAR_UUID],
    );
    expect(characteristics.map((c) => [c.uuid, c.properties]).sort()).toEqual(
      [
        [COMMAND_CHAR_UUID, ["write", "writeWithoutResponse"]],
        [INFO_CHAR_UUID, ["read"]],
        [RESULT_CHAR_UUID, ["notify"]],
      ].sort(),
    );
    const info = characteristics.find((c) => c.uuid === INFO_CHAR_UUID)!;
    expect((await info.readAsync()).toString()).toBe("front-door");
    await peripheral.disconnectAsync();
  });

  it("a phone finds the right lock among several and unlocks it offline", async () => {
    const locksOnAir = await Promise.all(["lobby", "apartment-4b", "apartment-4"].map((id) => boot(id)));
    const phone = new Phone({ random: seededRandom("phone"), clock });
    phones.push(phone);
    phone.addToken(mint(issuer, claimsFor("apartment-4", phone.devicePublicKey)), [issuer.trusted]);
    const outcome = await phone.unlock("apartment-4", { radio });
    expect(outcome).toMatchObject({ ok: true, state: "unlocked" });
    const target = locksOnAir[2]!;
    expect(target.events.map((e) => e.type)).toEqual(["state_applied", "clock_set", "unlocked"]);
    expect(locksOnAir[0]!.events.map((e) => e.type)).toEqual(["state_applied", "clock_set"]);
    expect(locksOnAir[1]!.events.map((e) => e.type)).toEqual(["state_applied", "clock_set"]);
  });

  it("a phone without a key, or with a key bound to another device, is stopped before the radio", async () => {
    await boot("garage");
    const phone = new Phone({ random: seededRandom("phone-2"), clock });
    phones.push(phone);
    await expect(phone.unlock("garage", { radio })).rejects.toThrow(/no key for lock garage/);
    const someoneElse = new Phone({ random: seededRandom("phone-3"), clock });
    const theirs = mint(issuer, claimsFor("garage", someoneElse.devicePublicKey));
    expect(() => phone.addToken(theirs, [issuer.trusted])).toThrow(/another device key/);
    expect(() => phone.addToken(theirs, [attacker.trusted])).toThrow(/unknown_issuer/);
  });

  it("a copied token is useless on another phone: the lock wants the holder's device key", async () => {
    const lock = await boot("office");
    const owner = new Phone({ random: seededRandom("owner"), clock });
    const thief = new Phone({ random: seededRandom("thief"), clock });
    phones.push(owner, thief);
    const token = mint(issuer, claimsFor("office", owner.devicePublicKey));
    owner.addToken(token, [issuer.trusted]);
    // the thief forces the copied token into its wallet, bypassing the phone's own check
    (thief as unknown as { stored: Map<string, unknown> }).stored.set("x", owner.keyFor("office"));
    expect(await thief.unlock("office", { radio })).toMatchObject({ ok: false, code: "bad_proof" });
    expect(lock.events.at(-1)).toMatchObject({ type: "denied", code: "bad_proof" });
  });

  it("a stranger in range cannot evict a phone's pending challenge: it gets too_many_challenges (review 12.8)", async () => {
    radio = new VirtualRadio({ maxConnectionsPerPeripheral: 2 });
    const lock = await boot("hall");
    const device = keyPairFromSeed(new Uint8Array(32).fill(0x12));
    const token = mint(issuer, claimsFor("hall", device.publicKey));
    const phone = await connectToLock(await central(), "hall");
    const challenge = await phone.request({ id: "p1", type: "challenge" });
    expect(challenge).toMatchObject({ ok: true });
    // The stranger asks for more challenges than the lock's whole book holds, on its own connection.
    const stranger = await connectToLock(await central(), "hall");
    const answers = [];
    for (let i = 0; i < 70; i++) answers.push(await stranger.request({ id: `s${i}`, type: "challenge" }));
    expect(answers.filter((a) => a.ok)).toHaveLength(CHALLENGES_PER_CONNECTION);
    expect(answers.slice(CHALLENGES_PER_CONNECTION).every((a) => a.code === "too_many_challenges")).toBe(true);
    const proof = proofFor("hall", challenge.nonce!, token, device.secretKey);
    expect(await phone.request({ id: "p2", type: "unlock", token, nonce: challenge.nonce!, proof })).toMatchObject({
      ok: true,
      state: "unlocked",
    });
    expect(lock.events.at(-1)?.type).toBe("unlocked");
    // Its connection closed, the stranger's nonces are gone; a new connection gets its own share again.
    const held = answers[0]!.nonce!;
    await stranger.close();
    const again = await connectToLock(await central(), "hall");
    const late = await again.request({
      id: "s-late",
      type: "unlock",
      token,
      nonce: held,
      proof: proofFor("hall", held, token, device.secretKey),
    });
    expect(late).toMatchObject({ ok: false, code: "bad_proof", message: "unknown or reused challenge" });
    expect(await again.request({ id: "s-new", type: "challenge" })).toMatchObject({ ok: true });
    await again.close();
    await phone.close();
  });

  it("a peripheral takes one connection at a time; a vanished lock drops its central", async () => {
    const lock = await boot("busy");
    const a = await connectToLock(await central(), "busy");
    await expect(connectToLock(await central(), "busy", { timeoutMs: 500 })).rejects.toThrow(/busy|timed out/);
    await a.close();
    const b = await connectToLock(await central(), "busy");
    const gone = new Promise<void>((resolve) => b.peripheral.once("disconnect", () => resolve()));
    await lock.powerLoss();
    locks.splice(locks.indexOf(lock), 1);
    await gone;
    await expect(b.request({ id: "p", type: "ping" })).rejects.toThrow(/disconnected/);
    await b.close();
  });

  it("a link dropped during discovery fails the connect at once with a typed error; the next connection opens", async () => {
    let connections = 0;
    radio.advertise({
      id: "flaky",
      localName: "latchkey-flaky",
      advertisedServiceUuids: [LOCK_SERVICE_UUID],
      services: LOCK_GATT_SERVICES,
      connect(link) {
        // The first link drops as the phone starts its discovery, which the radio then never answers, as noble's HCI
        // stack never calls back a discovery whose link is gone.
        if (++connections === 1) setImmediate(() => link.disconnect());
        return { read: () => new TextEncoder().encode("flaky"), write() {}, subscribe() {}, closed() {} };
      },
    });
    const noble = await central();
    const started = Date.now();
    const dropped = await connectToLock(noble, "flaky", { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(dropped).toBeInstanceOf(BleDisconnectedError);
    expect(Date.now() - started).toBeLessThan(5000);
    // Nothing of the broken discovery is left on the peripheral to answer the next one's in its place.
    const session = await connectToLock(noble, "flaky", { timeoutMs: 5000 });
    expect(session.lockId).toBe("flaky");
    await session.close();
    expect(connections).toBe(2);
  }, 15_000);

  it("refuses broken framing and garbage commands with invalid_command, and keeps serving", async () => {
    await boot("framing");
    const session = await connectToLock(await central(), "framing");
    try {
      const cmdChar = session.peripheral.services
        .find((x) => x.uuid === LOCK_SERVICE_UUID)!
        .characteristics.find((c) => c.uuid === COMMAND_CHAR_UUID)!;
      // a continuation frame without a first frame
      const stray = session.requestRaw("unknown", new Uint8Array([0x41, 0x00]));
      await cmdChar.writeAsync(Buffer.from([0x41, 0x00]), false);
      expect(await stray).toMatchObject({ ok: false, code: "invalid_command" });
      // a whole message that is not a command
      expect(await session.requestRaw("unknown", new Uint8Array([0xa0]))).toMatchObject({
        ok: false,
        code: "invalid_command",
      });
      expect(await session.request({ id: "ping-1", type: "ping" })).toMatchObject({ ok: true, state: "locked" });
    } finally {
      await session.close();
    }
  });

  it("works at a large MTU too (fewer, bigger frames)", async () => {
    radio = new VirtualRadio({ mtu: 247 });
    await boot("big-mtu");
    const phone = new Phone({ random: seededRandom("phone-mtu"), clock });
    phones.push(phone);
    phone.addToken(mint(issuer, claimsFor("big-mtu", phone.devicePublicKey)), [issuer.trusted]);
    expect(await phone.unlock("big-mtu", { radio })).toMatchObject({ ok: true });
  });

  it("a test steers the radio: the MTU of the next links, a fault hook that ends a link at one PDU, range", async () => {
    await boot("steered");
    radio.setMtu(185);
    expect(() => radio.setMtu(22)).toThrow(RangeError);
    const seen: Omit<RadioPdu, "central" | "data">[] = [];
    let dropAt: RadioPdu["op"] | null = null;
    radio.setFault(({ link, peripheralId, op }) => {
      seen.push({ link, peripheralId, op });
      if (op !== dropAt) return undefined;
      dropAt = null;
      return "drop-link";
    });
    const noble = await central();
    const whole = await connectToLock(noble, "steered");
    expect(whole.peripheral.mtu).toBe(185);
    expect(await whole.request({ id: "p1", type: "ping" })).toMatchObject({ ok: true });
    await whole.close();
    expect(seen.map((p) => p.op)).toEqual(["discover-services", "write", "notify"]);
    expect(new Set(seen.map((p) => `${p.link} ${p.peripheralId}`))).toEqual(new Set(["1 steered"]));

    // The lock's answer never arrives: the central hears the link end (supervision timeout), the lock its close.
    dropAt = "notify";
    const session = await connectToLock(noble, "steered");
    const reason = new Promise((resolve) => session.peripheral.once("disconnect", resolve));
    await expect(session.request({ id: "p2", type: "ping" })).rejects.toThrow(/disconnected/);
    expect(await reason).toBe(0x08);
    await session.close();
    expect(seen.at(-1)).toEqual({ link: 2, peripheralId: "steered", op: "notify" });

    // Out of range: open links end, the lock is not heard, and comes back when in range again.
    const open = await connectToLock(noble, "steered");
    const lost = new Promise((resolve) => open.peripheral.once("disconnect", resolve));
    radio.setInRange("steered", false);
    expect(await lost).toBe(0x08);
    await open.close();
    await expect(connectToLock(noble, "steered", { timeoutMs: 300 })).rejects.toThrow(/timed out|not in range/);
    radio.setInRange("steered", true);
    const back = await connectToLock(noble, "steered");
    expect(await back.request({ id: "p3", type: "ping" })).toMatchObject({ ok: true });
    await back.close();
  });

  describe("courier commands over BLE: signed documents, no secret needed", () => {
    async function gateway(lockId: string): Promise<LockSession> {
      return connectToLock(await central(), lockId);
    }

    it("a BLE gateway's visit: ping, the newer state, signed time, reports (freeing nothing); the ack frees", async () => {
      const lock = await boot("gw-1", { provision: false });
      cloud.enroll(lock);
      lock.command({
        id: "x",
        type: "unlock",
        token: new Uint8Array([1]),
        proof: new Uint8Array(64),
        nonce: new Uint8Array(16),
      });
      const s = await gateway("gw-1");
      try {
        const ping = await s.request({ id: "g1", type: "ping" });
        expect(ping).toMatchObject({ ok: true, state: "locked", v: 0 });
        expect(ping.keys).toEqual({ identity: lock.publicKeys.identityKey, x25519: lock.publicKeys.agreementKey });
        // Without a state the lock seals nothing.
        expect(await s.request({ id: "g2", type: "reports", after: 0 })).toMatchObject({ ok: true, reports: [] });
        const applied = await s.request({ id: "g3", type: "state", doc: cloud.state("gw-1") });
        expect(applied).toMatchObject({ ok: true, v: lock.stateV });
        const asked = await s.request({ id: "g4", type: "time_request" });
        expect(asked.ok).toBe(true);
        const answer = cloud.answerTime(asked.request!);
        expect(await s.request({ id: "g5", type: "time_answer", answer })).toMatchObject({ ok: true });
        expect(lock.clockSet).toBe(true);
        // Pull every report; each verifies at the cloud; asking again frees nothing and repeats nothing.
        let after = 0;
        for (;;) {
          const pulled = await s.request({ id: `r${after}`, type: "reports", after });
          expect(pulled.ok).toBe(true);
          if (pulled.reports!.length === 0) break;
          for (const report of pulled.reports!) {
            const verdict = cloud.receive("gw-1", report);
            expect(verdict.ok).toBe(true);
            after = Math.max(after, verdict.ok ? verdict.report.ctr : 0);
          }
        }
        expect(cloud.events("gw-1").map((e) => [e.seq, e.type, e.code])).toEqual([
          [1, "denied", "no_state"],
          [2, "state_applied", undefined],
          [3, "clock_set", "unset"],
        ]);
        expect(cloud.telemetry("gw-1")).toHaveLength(1);
        expect(lock.unacknowledged).toBe(3);
        // Only the cloud's ack, in its next state, frees them.
        const acked = await s.request({ id: "g6", type: "state", doc: cloud.state("gw-1") });
        expect(acked.ok).toBe(true);
        expect(lock.unacknowledged).toBe(1);
      } finally {
        await s.close();
      }
    });

    it("a stranger in radio range gets nothing in: another authority's state, forged time and commands are refused", async () => {
      const lock = await boot("gw-2");
      const v = lock.stateV;
      const s = await gateway("gw-2");
      try {
        const theirs = new TestCloud(clock, attacker, { authority: makeAuthority("attacker") });
        theirs.enroll(lock);
        expect(await s.request({ id: "a1", type: "state", doc: theirs.state("gw-2") })).toMatchObject({
          ok: false,
          code: "wrong_authority",
          v,
        });
        const asked = await s.request({ id: "a2", type: "time_request" });
        const forgedTime = theirs.answerTime(asked.request!, clock.now() + 86_400_000);
        expect(await s.request({ id: "a3", type: "time_answer", answer: forgedTime })).toMatchObject({
          ok: false,
          code: "wrong_authority",
        });
        const nonce = (await s.request({ id: "a4", type: "command_nonce" })).nonce!;
        const forgedCommand = theirs.command("gw-2", nonce);
        expect(await s.request({ id: "a5", type: "remote", command: forgedCommand })).toMatchObject({
          ok: false,
          code: "wrong_authority",
        });
        expect(lock.state).toBe("locked");
        expect(lock.stateV).toBe(v);
        expect(lock.trustedKids).toEqual([toHex(issuer.kid)]);
        // A courier that pulls reports frees nothing.
        const before = lock.unacknowledged;
        await s.request({ id: "a6", type: "reports", after: 0 });
        await s.request({ id: "a7", type: "reports", after: 1_000_000 });
        expect(lock.unacknowledged).toBe(before);
      } finally {
        await s.close();
      }
    });

    it("one connection holds at most two live time requests and two command nonces; closing it frees them", async () => {
      await boot("gw-3");
      const s = await gateway("gw-3");
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await s.request({ id: `t${i}`, type: "time_request" }));
      for (let i = 0; i < 3; i++) answers.push(await s.request({ id: `n${i}`, type: "command_nonce" }));
      expect(answers.map((a) => a.ok)).toEqual([true, true, false, true, true, false]);
      expect(answers[2]).toMatchObject({ code: "too_many_challenges" });
      await s.close();
      const again = await gateway("gw-3");
      try {
        expect(await again.request({ id: "t9", type: "time_request" })).toMatchObject({ ok: true });
      } finally {
        await again.close();
      }
    });
  });

  it("a phone carries a newer state: a key revoked at the cloud is refused after any phone's visit, with no bridge", async () => {
    const lock = await boot("cabin");
    const visitor = new Phone({ random: seededRandom("visitor"), clock });
    const owner = new Phone({ random: seededRandom("owner-cabin"), clock });
    phones.push(visitor, owner);
    const visitorToken = mint(issuer, claimsFor("cabin", visitor.devicePublicKey));
    visitor.addToken(visitorToken, [issuer.trusted]);
    owner.addToken(mint(issuer, claimsFor("cabin", owner.devicePublicKey)), [issuer.trusted]);
    const first = await visitor.unlock("cabin", { radio });
    expect(first).toMatchObject({ ok: true });
    expect(first.delivered).toBeUndefined();
    lock.tick();
    // The cloud revokes the visitor's key; no bridge reaches the cabin. The owner's phone prefetches the new state.
    cloud.revoke("cabin", peekCti(visitorToken)!);
    const newer = cloud.state("cabin");
    owner.addState({ lockId: "cabin", v: lock.stateV + 1, state: newer });
    owner.addState({ lockId: "cabin", v: 1, state: cloud.state("cabin") }); // an older answer never replaces it
    const visit = await owner.unlock("cabin", { radio });
    expect(visit).toMatchObject({ ok: true, delivered: { ok: true, v: lock.stateV } });
    expect(lock.revoked).toEqual([toHex(peekCti(visitorToken)!)]);
    lock.tick();
    expect(await visitor.unlock("cabin", { radio })).toMatchObject({ ok: false, code: "revoked" });
    // The lock runs it now: the next visit carries nothing.
    const later = await owner.unlock("cabin", { radio });
    expect(later.ok).toBe(true);
    expect(later.delivered).toBeUndefined();
    expect(lock.events.filter((e) => e.type === "state_applied")).toHaveLength(2);
  });

  it("a phone's state the lock refuses (another lock holder's) does not stop its unlock: the lock decides", async () => {
    const lock = await boot("shed");
    const phone = new Phone({ random: seededRandom("shed-phone"), clock });
    phones.push(phone);
    phone.addToken(mint(issuer, claimsFor("shed", phone.devicePublicKey)), [issuer.trusted]);
    const theirs = new TestCloud(clock, attacker, { authority: makeAuthority("other-holder") });
    theirs.enroll(lock);
    phone.addState({ lockId: "shed", v: Number.MAX_SAFE_INTEGER, state: theirs.state("shed") });
    const outcome = await phone.unlock("shed", { radio });
    expect(outcome).toMatchObject({ ok: true, delivered: { ok: false, code: "wrong_authority" } });
    expect(lock.trust.authority).toEqual(cloud.authority.publicKey);
  });

  it("real hardware: without a Bluetooth adapter startLock fails with a clear BleUnavailableError", async () => {
    const dir = tmp.make();
    const err = await startLock({ lockId: "hw", dataDir: dir, hardwareBle: true, clock }).catch((e) => e);
    expect(err).toBeInstanceOf(BleUnavailableError);
    expect(err.message).toMatch(/Bluetooth LE peripheral mode is unavailable on this host/);
    // and nothing half-started: the same flash opens again
    const lock = await startLock({ lockId: "hw", dataDir: dir, clock });
    await lock.stop();
    // the phone's side: no radio given means the host adapter
    const phone = new Phone({ random: seededRandom("hw-phone"), clock });
    phone.addToken(mint(issuer, claimsFor("hw", phone.devicePublicKey)), [issuer.trusted]);
    const central = await phone.unlock("hw").catch((e) => e);
    expect(central).toBeInstanceOf(BleUnavailableError);
    expect(central.message).toMatch(/central mode is unavailable on this host/);
  });
});
