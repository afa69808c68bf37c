import { createRequire } from "node:module";
import {
  COMMAND_CHAR_UUID,
  decodeEvent,
  encodeGatewayCommand,
  encodeSync,
  INFO_CHAR_UUID,
  keyPairFromSeed,
  LOCK_SERVICE_UUID,
  ManualClock,
  RESULT_CHAR_UUID,
  toHex,
} from "@latchkey/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BleUnavailableError,
  CHALLENGES_PER_CONNECTION,
  connectToLock,
  type LockSession,
  type Noble,
  Phone,
  type SimLock,
  seededRandom,
  startLock,
  VirtualRadio,
} from "../src/index.js";
import { claimsFor, makeIssuer, mint, proofFor, T0 } from "./helpers/keys.js";
import { TempDirs } from "./helpers/tmp.js";

const issuer = makeIssuer("ble");
const attacker = makeIssuer("attacker");
const PASSWORD = "lock-broker-password-derived-by-the-bridge";

describe("BLE: virtual radio, noble central, phone", () => {
  const tmp = new TempDirs();
  const clock = new ManualClock(T0 * 1000);
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

  async function boot(lockId: string, extra: Partial<Parameters<typeof startLock>[0]> = {}) {
    const lock = await startLock({
      lockId,
      dataDir: tmp.make(),
      clock,
      random: seededRandom(lockId),
      trust: [issuer.trusted],
      radio,
      tickIntervalMs: 0,
      ...extra,
    });
    locks.push(lock);
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
    expect(target.events.map((e) => e.type)).toEqual(["unlocked"]);
    expect(locksOnAir[0]!.events).toEqual([]);
    expect(locksOnAir[1]!.events).toEqual([]);
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
    expect(lock.events.map((e) => e.type)).toEqual(["unlocked"]);
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

  it("refuses broken framing and garbage commands with invalid_command, and keeps serving", async () => {
    await boot("framing");
    const session = await connectToLock(await central(), "framing");
    try {
      const cmdChar = (session as unknown as { command: import("@abandonware/noble").Characteristic }).command;
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

  describe("gateway commands over BLE (sync, events)", () => {
    async function gateway(lockId: string): Promise<LockSession> {
      return connectToLock(await central(), lockId);
    }

    it("a stranger in radio range cannot push a sync (their own issuer key) nor erase events", async () => {
      const lock = await boot("gw-1", { mqttPassword: PASSWORD });
      const s = await gateway("gw-1");
      try {
        const forged = encodeSync({ v: 99, issuers: [attacker.sync], revoked: [], time: T0 });
        const plain = await s.request({ id: "g1", type: "sync", sync: forged });
        expect(plain).toMatchObject({ ok: false, code: "bad_proof" });
        // with a mac under a guessed key
        const nonce = (await s.request({ id: "c1", type: "challenge" })).nonce!;
        const guessed = encodeGatewayCommand(
          { id: "g2", type: "sync", sync: forged },
          { lockId: "gw-1", nonce, password: "guess" },
        );
        expect(await s.requestRaw("g2", guessed)).toMatchObject({ ok: false, code: "bad_proof" });
        expect(await s.request({ id: "e1", type: "events", after: 1_000_000 })).toMatchObject({ code: "bad_proof" });
        expect(lock.syncVersion).toBe(0);
        expect(lock.trustedKids).toEqual([toHex(issuer.kid)]);
      } finally {
        await s.close();
      }
    });

    it("the bridge, holding the lock's password, syncs it and pulls and acknowledges its events", async () => {
      const lock = await boot("gw-2", { mqttPassword: PASSWORD });
      lock.command({
        id: "x",
        type: "unlock",
        token: new Uint8Array([1]),
        proof: new Uint8Array(64),
        nonce: new Uint8Array(16),
      });
      const s = await gateway("gw-2");
      try {
        const sync = encodeSync({ v: 4, issuers: [issuer.sync], revoked: [], time: T0 });
        let nonce = (await s.request({ id: "c1", type: "challenge" })).nonce!;
        const signed = encodeGatewayCommand(
          { id: "g1", type: "sync", sync },
          { lockId: "gw-2", nonce, password: PASSWORD },
        );
        expect(await s.requestRaw("g1", signed)).toMatchObject({ ok: true, v: 4 });
        // the same signed command again: its nonce is spent
        expect(await s.requestRaw("g1", signed)).toMatchObject({ ok: false, code: "bad_proof" });
        nonce = (await s.request({ id: "c2", type: "challenge" })).nonce!;
        const pull = encodeGatewayCommand(
          { id: "g2", type: "events", after: 0 },
          { lockId: "gw-2", nonce, password: PASSWORD },
        );
        const result = await s.requestRaw("g2", pull);
        expect(result.ok).toBe(true);
        const events = result.events!.map(decodeEvent);
        expect(events.map((e) => [e.seq, e.type])).toEqual([
          [1, "denied"],
          [2, "sync_applied"],
        ]);
        nonce = (await s.request({ id: "c3", type: "challenge" })).nonce!;
        const ack = encodeGatewayCommand(
          { id: "g3", type: "events", after: 2 },
          { lockId: "gw-2", nonce, password: PASSWORD },
        );
        expect(await s.requestRaw("g3", ack)).toMatchObject({ ok: true, events: [] });
        expect(lock.unacknowledged).toBe(0);
      } finally {
        await s.close();
      }
    });

    it("a lock without broker credentials takes no gateway commands over BLE at all", async () => {
      await boot("gw-3");
      const s = await gateway("gw-3");
      try {
        const nonce = (await s.request({ id: "c1", type: "challenge" })).nonce!;
        const sync = encodeSync({ v: 1, issuers: [], revoked: [], time: T0 });
        const cmd = encodeGatewayCommand({ id: "g1", type: "sync", sync }, { lockId: "gw-3", nonce, password: "" });
        const r = await s.requestRaw("g1", cmd);
        expect(r).toMatchObject({ ok: false, code: "bad_proof" });
        expect(r.message).toMatch(/no gateway key/);
      } finally {
        await s.close();
      }
    });
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
