import {
  chunkMessage,
  encodeCommand,
  encodeCommandResult,
  INFO_CHAR_UUID,
  LOCK_SERVICE_UUID,
  ManualClock,
} from "@latchkey/protocol";
import type { Noble } from "@latchkey/runtime";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { BleTimeoutError, connectToLock, type LockSession } from "../src/ble/central.js";
import {
  Air,
  type AirPdu,
  type ControllerOptions,
  EmulatedAdapters,
  EmulatedController,
  HciLog,
  installEmulatedHci,
  loadBleno,
  loadNoble,
} from "../src/ble/hci-emulator/index.js";
import { type SimLock, seededRandom, startLock } from "../src/index.js";
import { T0 } from "./helpers/keys.js";
import { TempDirs } from "./helpers/tmp.js";

/**
 * noble and bleno running their own HCI, L2CAP, ATT and GATT code, unmodified, over two emulated controllers: the
 * lock is lock-sim's `startLock({hardwareBle: true})` (bleno-peripheral.ts and the lock's GATT server, loaded the
 * ordinary way, with the emulated adapters installed as this process's hci0), the phone is noble driven by the same
 * `connectToLock` central the simulated phone uses.
 */
const ATT_WRITE_REQUEST = 0x12;
const ATT_NOTIFICATION = 0x1b;
/** A ping whose id makes the command several frames long at MTU 23. */
const LONG_ID = "ping-0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

describe("BLE on real stacks: noble central and bleno peripheral over emulated controllers", () => {
  const log = new HciLog();
  const tmp = new TempDirs();
  const clock = new ManualClock(T0 * 1000);
  const air = new Air({ seed: "hci-stacks", log: log.sink });
  const lockController = new EmulatedController(air, { address: "c0:de:00:00:00:01", name: "lock", log: log.sink });
  let uninstall: () => void;
  let phones = 0;
  const cleanups: (() => void | Promise<void>)[] = [];
  /** Every data PDU that crossed, in order (the fault hook sees them all). */
  let seen: AirPdu[] = [];

  /** Records every PDU and lets the loss draw decide its fate. */
  const watch = (pdu: AirPdu) => {
    seen.push(pdu);
    return undefined;
  };

  beforeAll(() => {
    uninstall = installEmulatedHci(new EmulatedAdapters([lockController]));
    process.env.BLENO_HCI_DEVICE_ID = "0";
    air.setFault(watch);
  });

  afterAll(() => {
    uninstall();
    delete process.env.BLENO_HCI_DEVICE_ID;
    air.close();
    tmp.cleanup();
  });

  afterEach(async () => {
    air.configure({ lossRate: 0, attMtu: null, latencyMs: 0 });
    for (const step of cleanups.splice(0).reverse()) await step();
    seen = [];
    air.setFault(watch);
  });

  function printLogOnFailure(): void {
    onTestFailed(() => {
      process.stderr.write(`${log.lines.slice(-400).join("\n")}\n`);
    });
  }

  async function lock(lockId: string): Promise<SimLock> {
    const started = await startLock({
      lockId,
      dataDir: tmp.make(),
      clock,
      random: seededRandom(lockId),
      hardwareBle: true,
      tickIntervalMs: 0,
    });
    cleanups.push(() => started.stop());
    return started;
  }

  /** A phone: its own controller on the air and a private noble on it. */
  function phone(options: Partial<ControllerOptions> = {}): { noble: Noble; controller: EmulatedController } {
    const n = ++phones;
    const controller = new EmulatedController(air, {
      address: `c0:de:00:00:01:${n.toString(16).padStart(2, "0")}`,
      name: `phone-${n}`,
      log: log.sink,
      ...options,
    });
    const noble = loadNoble(controller);
    cleanups.push(() => {
      noble.removeAllListeners();
      controller.close();
    });
    return { noble, controller };
  }

  async function session(lockId: string, noble: Noble): Promise<LockSession> {
    const s = await connectToLock(noble, lockId, { timeoutMs: 10_000 });
    cleanups.push(() => s.close());
    return s;
  }

  /** ATT PDUs of `opcode` the air carried from `from` (the first LL PDU of each L2CAP PDU on the ATT channel). */
  function att(from: string, opcode: number): AirPdu[] {
    return seen.filter(
      (p) =>
        p.from.name === from &&
        p.llid === 0b10 &&
        p.payload.length >= 5 &&
        (p.payload[2]! | (p.payload[3]! << 8)) === 0x0004 &&
        p.payload[4] === opcode,
    );
  }

  it("bleno advertises the lock's service; noble finds it, connects, discovers it and reads info", async () => {
    printLogOnFailure();
    await lock("front-door");
    const { noble } = phone();
    const s = await session("front-door", noble);
    expect(s.peripheral.advertisement.localName).toBe("latchkey-front-door");
    expect(s.peripheral.advertisement.serviceUuids).toEqual([LOCK_SERVICE_UUID]);
    // connectToLock discovered the service and read info to pick this lock; read it again through noble.
    const service = s.peripheral.services.find((x) => x.uuid === LOCK_SERVICE_UUID)!;
    const info = service.characteristics.find((c) => c.uuid === INFO_CHAR_UUID)!;
    expect((await info.readAsync()).toString("utf8")).toBe("front-door");
    expect(await s.peripheral.updateRssiAsync()).toBe(-55);
    // noble asked for 256, bleno took it: both stacks run at 256 unless the air models a smaller peer.
    expect(s.peripheral.mtu).toBe(256);
    expect(await s.request({ id: "ping-1", type: "ping" })).toMatchObject({ id: "ping-1", ok: true, state: "locked" });
  });

  for (const mtu of [23, 247]) {
    it(`ping and challenge, framed over real ATT writes and notifications at ATT MTU ${mtu}`, async () => {
      printLogOnFailure();
      air.configure({ attMtu: mtu });
      await lock(`mtu-${mtu}`);
      const { noble } = phone();
      const s = await session(`mtu-${mtu}`, noble);
      expect(s.peripheral.mtu).toBe(mtu);
      seen = [];
      const pong = await s.request({ id: LONG_ID, type: "ping" });
      expect(pong).toMatchObject({ id: LONG_ID, ok: true, state: "locked" });
      // One ATT Write Request per frame, each frame within MTU − 3, and one notification per result frame.
      const frames = chunkMessage(encodeCommand({ id: LONG_ID, type: "ping" }), mtu);
      expect(att("phone-" + phones, ATT_WRITE_REQUEST)).toHaveLength(frames.length);
      expect(att("lock", ATT_NOTIFICATION)).toHaveLength(chunkMessage(encodeCommandResult(pong), mtu).length);
      expect(frames.length > 1).toBe(mtu === 23);

      const challenge = await s.request({ id: "c-1", type: "challenge" });
      expect(challenge).toMatchObject({ id: "c-1", ok: true });
      expect(challenge.nonce).toBeInstanceOf(Uint8Array);
      expect(challenge.nonce!.length).toBeGreaterThanOrEqual(16);
    });
  }

  it("with packet loss on the air every frame still arrives once and in order: the link layer retransmits", async () => {
    printLogOnFailure();
    air.configure({ lossRate: 0.25, attMtu: 23, latencyMs: 1, connectionEventMs: 1 });
    await lock("lossy");
    const { noble } = phone();
    const s = await session("lossy", noble);
    const before = { ...air.stats };
    for (let i = 0; i < 3; i++) {
      expect(await s.request({ id: `${LONG_ID.slice(0, 60)}-${i}`, type: "ping" })).toMatchObject({ ok: true });
      expect(await s.request({ id: `c-${i}`, type: "challenge" })).toMatchObject({ ok: i < 2 });
    }
    // The third challenge on one connection is refused (two live ones per connection): the lock counted each
    // command exactly once although the air lost and resent PDUs carrying them.
    expect(air.stats.dataLost - before.dataLost).toBeGreaterThan(0);
    expect(air.stats.dataTransmissions - before.dataTransmissions).toBeGreaterThan(
      air.stats.dataLost - before.dataLost,
    );
  });

  it("a link dropped mid-command: both ends see the disconnect, the partial command is discarded, a new link works", async () => {
    printLogOnFailure();
    air.configure({ attMtu: 23 });
    const target = await lock("dropped");
    const { noble } = phone();
    const s = await session("dropped", noble);
    const phoneName = `phone-${phones}`;
    // Let the first frame of the command through, then end the link as it carries the second.
    let writes = 0;
    air.setFault((pdu) => {
      seen.push(pdu);
      const isWrite = pdu.from.name === phoneName && pdu.llid === 0b10 && pdu.payload[4] === ATT_WRITE_REQUEST;
      return isWrite && ++writes === 2 ? "drop-link" : undefined;
    });
    const lockSawDisconnect = new Promise<void>((resolve) => {
      const onPacket = (p: Buffer) => {
        if (p[0] === 0x04 && p[1] === 0x05) {
          lockController.removeListener("packet", onPacket);
          resolve();
        }
      };
      lockController.on("packet", onPacket);
    });
    await expect(s.request({ id: LONG_ID, type: "ping" })).rejects.toThrow(/disconnected/);
    await lockSawDisconnect;
    expect(writes).toBe(2);
    expect(target.events).toEqual([]);
    air.setFault(watch);
    // The lock threw the half-assembled command away with the connection: the next one is read from its start.
    const again = await session("dropped", noble);
    expect(await again.request({ id: LONG_ID, type: "ping" })).toMatchObject({ id: LONG_ID, ok: true });
  });

  it("a link dropped before the result arrives: the phone gets an error, not a result; the lock keeps serving", async () => {
    printLogOnFailure();
    air.configure({ attMtu: 23 });
    await lock("lost-answer");
    const { noble } = phone();
    const s = await session("lost-answer", noble);
    air.setFault((pdu) => {
      seen.push(pdu);
      return pdu.from.name === "lock" && pdu.llid === 0b10 && pdu.payload[4] === ATT_NOTIFICATION
        ? "drop-link"
        : undefined;
    });
    await expect(s.request({ id: "c-lost", type: "challenge" })).rejects.toThrow(/disconnected/);
    air.setFault(watch);
    // The challenge issued on the dead link went with it; the new link gets its own share.
    const again = await session("lost-answer", noble);
    expect(await again.request({ id: "c-1", type: "challenge" })).toMatchObject({ ok: true });
    expect(await again.request({ id: "c-2", type: "challenge" })).toMatchObject({ ok: true });
  });

  it("the supervision timeout ends a link that loses everything; after it, the lock advertises again", async () => {
    printLogOnFailure();
    await lock("faded");
    const { noble } = phone();
    const s = await session("faded", noble);
    const gone = new Promise<void>((resolve) => s.peripheral.once("disconnect", () => resolve()));
    air.configure({ lossRate: 1 });
    const timeoutsBefore = air.stats.timeouts;
    await expect(s.request({ id: "p", type: "ping" })).rejects.toThrow(/disconnected/);
    await gone;
    expect(air.stats.timeouts).toBe(timeoutsBefore + 1);
    air.configure({ lossRate: 0 });
    const again = await session("faded", noble);
    expect(await again.request({ id: "p2", type: "ping" })).toMatchObject({ ok: true });
  });

  it("a lock that goes out of range between discovery and connection: connecting times out, and the phone connects later", async () => {
    printLogOnFailure();
    await lock("walked-away");
    const { noble } = phone();
    const phoneName = `phone-${phones}`;
    // Out of range the moment the phone hears it: its LE Create Connection can never complete.
    noble.once("discover", () => air.setInRange("lock", phoneName, false));
    const attempt = await connectToLock(noble, "walked-away", { timeoutMs: 300 }).catch((e: Error) => e);
    expect(attempt).toBeInstanceOf(BleTimeoutError);
    air.setInRange("lock", phoneName, true);
    const s = await session("walked-away", noble);
    expect(await s.request({ id: "p-back", type: "ping" })).toMatchObject({ ok: true });
  });

  it("one phone at a time: the lock stops advertising while connected, and the next phone gets in once it leaves", async () => {
    printLogOnFailure();
    await lock("one-at-a-time");
    const first = await session("one-at-a-time", phone().noble);
    const second = phone().noble;
    await expect(connectToLock(second, "one-at-a-time", { timeoutMs: 300 })).rejects.toThrow(BleTimeoutError);
    await first.close();
    const s = await session("one-at-a-time", second);
    expect(await s.request({ id: "p-2", type: "ping" })).toMatchObject({ ok: true });
  });

  it("a lock that loses power drops its phone; booted again, the same bleno serves it", async () => {
    printLogOnFailure();
    const dataDir = tmp.make();
    const options = {
      lockId: "power-cut",
      dataDir,
      clock,
      random: seededRandom("power-cut"),
      hardwareBle: true,
      tickIntervalMs: 0,
    };
    const first = await startLock(options);
    const { noble } = phone();
    const s = await connectToLock(noble, "power-cut");
    await first.powerLoss();
    await expect(s.request({ id: "p-dark", type: "ping" })).rejects.toThrow(/disconnected/);
    const again = await startLock(options);
    cleanups.push(() => again.stop());
    const s2 = await session("power-cut", noble);
    expect(await s2.request({ id: "p-lit", type: "ping" })).toMatchObject({ ok: true });
  });

  it("a phone controller with two 27-octet LE buffers: noble fragments each ATT PDU and waits for completed packets", async () => {
    printLogOnFailure();
    air.configure({ attMtu: 247 });
    await lock("small-buffers");
    const { noble } = phone({ leBuffer: { length: 27, count: 2 }, maxDataLength: 27 });
    const s = await session("small-buffers", noble);
    expect(s.peripheral.mtu).toBe(247);
    seen = [];
    expect(await s.request({ id: LONG_ID, type: "ping" })).toMatchObject({ id: LONG_ID, ok: true });
    // One frame at MTU 247, carried as one ATT write in several 27-octet pieces each way.
    const phoneName = `phone-${phones}`;
    expect(att(phoneName, ATT_WRITE_REQUEST)).toHaveLength(1);
    const continuations = (from: string) => seen.filter((p) => p.from.name === from && p.llid === 0b01).length;
    expect(continuations(phoneName)).toBeGreaterThanOrEqual(3);
    expect(continuations("lock")).toBeGreaterThanOrEqual(3);
    expect(seen.every((p) => p.payload.length <= 27)).toBe(true);
  });

  it("a phone controller without LE buffers of its own: noble falls back to Read Buffer Size", async () => {
    printLogOnFailure();
    await lock("shared-buffers");
    const { noble } = phone({ leBuffer: "shared" });
    const s = await session("shared-buffers", noble);
    expect(await s.request({ id: "p-shared", type: "ping" })).toMatchObject({ ok: true });
    expect(log.lines.some((l) => l.startsWith(`[phone-${phones}] < HCI Command: Read Buffer Size`))).toBe(true);
  });
});

describe("BLE on real stacks: a private bleno on shared buffers", () => {
  it("bleno falls back to Read Buffer Size too, and serves a characteristic to noble", async () => {
    const log = new HciLog();
    onTestFailed(() => {
      process.stderr.write(`${log.lines.slice(-300).join("\n")}\n`);
    });
    const air = new Air({ seed: "shared", log: log.sink });
    const peripheral = new EmulatedController(air, {
      address: "c0:de:00:00:02:01",
      name: "bleno",
      leBuffer: "shared",
      log: log.sink,
    });
    const central = new EmulatedController(air, { address: "c0:de:00:00:02:02", name: "noble", log: log.sink });
    const bleno = loadBleno(peripheral);
    const noble = loadNoble(central);
    try {
      await new Promise<void>((resolve) =>
        bleno.on("stateChange", (state: string) => state === "poweredOn" && resolve()),
      );
      const value = Buffer.from("x".repeat(200));
      const info = new bleno.Characteristic({
        uuid: INFO_CHAR_UUID,
        properties: ["read"],
        onReadRequest: (offset, callback) => callback(bleno.Characteristic.RESULT_SUCCESS, value.subarray(offset)),
      });
      await new Promise<void>((resolve, reject) =>
        bleno.startAdvertising("shared", [LOCK_SERVICE_UUID], (e) =>
          e
            ? reject(e)
            : bleno.setServices(
                [new bleno.PrimaryService({ uuid: LOCK_SERVICE_UUID, characteristics: [info] })],
                (e2) => (e2 ? reject(e2) : resolve()),
              ),
        ),
      );
      const found = new Promise<import("@abandonware/noble").Peripheral>((resolve) => noble.once("discover", resolve));
      await noble.startScanningAsync([LOCK_SERVICE_UUID], false);
      const p = await found;
      await noble.stopScanningAsync();
      await p.connectAsync();
      const { characteristics } = await p.discoverSomeServicesAndCharacteristicsAsync(
        [LOCK_SERVICE_UUID],
        [INFO_CHAR_UUID],
      );
      // 200 octets at MTU 256: one ATT Read Response, 207 octets of L2CAP in one 251-octet shared buffer
      expect((await characteristics[0]!.readAsync()).toString()).toBe(value.toString());
      expect(log.lines.some((l) => l.startsWith("[bleno] < HCI Command: Read Buffer Size"))).toBe(true);
      await p.disconnectAsync();
    } finally {
      noble.removeAllListeners();
      bleno.removeAllListeners();
      central.close();
      peripheral.close();
      air.close();
    }
  });
});
