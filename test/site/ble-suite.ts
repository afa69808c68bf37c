import type { Noble, RunningBridge } from "@latchkey/bridge";
import type { LockOptions, RadioPdu, SimLock } from "@latchkey/lock-sim";
import {
  Air,
  type AirPdu,
  EmulatedAdapters,
  EmulatedController,
  HciLog,
  installEmulatedHci,
  loadNoble,
  type PduFate,
} from "@latchkey/lock-sim/hci-emulator";
import { decodeCommand, FrameAssembler, toHex } from "@latchkey/protocol";
import { loadNobleWithBindings } from "@latchkey/runtime";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { cloudEvents, createSite, deniedAttempt, type Json, LogCapture, type Site, until } from "./helpers.js";

/**
 * The whole site over BLE (issue 18 item 3), one suite on two transports, so every claim holds on both:
 * - "virtual": lock-sim's virtual radio, which replaces noble's bindings (noble's public API over an in-process
 *   medium; the lock's GATT server behind it, no bleno);
 * - "hci-emulated": noble loaded unmodified over an emulated HCI controller, the lock's peripheral bleno
 *   (`startLock({hardwareBle: true})`) on another controller on the same air, so both real stacks run from the HCI
 *   packet up (lock-sim/src/ble/hci-emulator).
 * The bridge's BLE gateway runs in process, the cloud is the real one. The lock gets its signed state and time over
 * BLE, its events reach the cloud as sealed reports, and the cloud's ack, carried back in a later state, frees them: at
 * ATT MTU 23 and 247, with links dropped mid-transfer (nothing lost, nothing applied twice), with a lock gone out of
 * range while the gateway connects; and a phone, noble on its own central, carrying a newer state to the lock and
 * unlocking it, and reconnecting after its link drops mid-unlock. Packet loss needs a link layer, so it runs on the emulated controllers only; the gateway's own loop
 * (rounds it times itself, a phone taking its turn between them) runs on the virtual radio only.
 *
 * The gateway's own loop runs one round at start and then waits a day: the test runs each round itself
 * (`bridge.bleRound()`), so a round never overlaps another and each visit's faults land where they are meant to.
 */
const ATT_CID = 0x0004;
const ATT_READ_BY_GROUP_TYPE_REQUEST = 0x10;
const ATT_WRITE_REQUEST = 0x12;
const ATT_NOTIFICATION = 0x1b;
const COMMAND_TIMEOUT_S = 2;
/** The events the cloud's events list shows (cloud/src/domain/events.ts). */
const KEY_EVENTS = new Set(["unlocked", "denied", "locked", "jammed"]);

/** One ATT PDU as the air carried it, and the latchkey frame in it when it carries one. */
interface AttPdu {
  from: string;
  opcode: number;
  /** The whole ATT PDU's length (the L2CAP header's), however the link layer fragmented it. */
  length: number;
  frame: GattFrame | null;
}

/** A latchkey frame (protocol/ble/framing.ts) in an ATT write or notification, and the message it belongs to. */
interface GattFrame {
  direction: "command" | "result";
  /** The command's `type` once its frames carried it (for a result: the type of the command it answers). */
  type: string | null;
  /** Index of this frame in its message. */
  index: number;
}

/**
 * Watches the lock GATT traffic on either transport: every ATT PDU and, with no loss configured, each command and
 * result frame by the message it belongs to, so a test can drop the link at an exact point (the fault hook sees each
 * transmission; under loss a retransmission would be seen twice, so frames are followed only without). The emulated
 * air hands it link-layer fragments (`airHook`), the virtual radio whole writes and notifications (`observe`).
 */
class GattWatch {
  readonly att: AttPdu[] = [];
  /** Commands the centrals (the bridge's, a phone's: one at a time) wrote whole, by type, in order. */
  readonly commands: string[] = [];
  /** Drops the link (once) when it answers true for an ATT PDU about to complete its crossing. */
  dropAt: ((pdu: AttPdu) => boolean) | null = null;
  readonly dropped: AttPdu[] = [];
  private linkId = -1;
  private readonly l2cap = new Map<string, number[]>();
  private commandBytes: number[] = [];
  private commandIndex = 0;
  private commandType: string | null = null;
  private readonly commandAssembler = new FrameAssembler();
  private resultIndex = 0;
  private answering: string | null = null;

  constructor(private readonly peripheral: string) {}

  /** The emulated air's fault hook: L2CAP reassembled from the link layer's fragments, then `observe`. */
  readonly airHook = (pdu: AirPdu): PduFate | undefined => {
    if (pdu.llid === null) return undefined;
    if (pdu.link.id !== this.linkId) this.newLink(pdu.link.id);
    const from = pdu.from.name;
    const buffer = (pdu.llid === 0b10 ? [] : (this.l2cap.get(from) ?? [])).concat([...pdu.payload]);
    this.l2cap.set(from, buffer);
    if (buffer.length < 4) return undefined;
    const length = buffer[0]! | (buffer[1]! << 8);
    if (buffer.length < 4 + length) return undefined;
    this.l2cap.delete(from);
    if ((buffer[2]! | (buffer[3]! << 8)) !== ATT_CID || length < 1) return undefined;
    const drop = this.observe(pdu.link.id, from, buffer[4]!, length, Uint8Array.from(buffer.slice(7)));
    return drop ? "drop-link" : undefined;
  };

  /** One whole ATT PDU on link `link`, its attribute value `value`: whether the test drops the link there. */
  observe(link: number, from: string, opcode: number, length: number, value: Uint8Array): boolean {
    if (link !== this.linkId) this.newLink(link);
    let frame: GattFrame | null = null;
    try {
      // The write that subscribes to `result` (its Client Characteristic Configuration, 01 00) carries no frame.
      const subscribing = value.length === 2 && value[1] === 0 && value[0]! <= 2;
      if (opcode === ATT_WRITE_REQUEST && from !== this.peripheral && !subscribing) frame = this.followCommand(value);
      if (opcode === ATT_NOTIFICATION && from === this.peripheral) frame = this.followResult(value);
    } catch {
      // Not a frame sequence this watch can follow (the air must never see a throw): start again at the next one.
      this.commandAssembler.reset();
    }
    const att: AttPdu = { from, opcode, length, frame };
    this.att.push(att);
    if (!this.dropAt?.(att)) return false;
    this.dropped.push(att);
    this.dropAt = null;
    return true;
  }

  /** The largest ATT PDU `from` sent with `opcode`. */
  largest(from: string, opcode: number): number {
    return Math.max(0, ...this.att.filter((p) => p.from === from && p.opcode === opcode).map((p) => p.length));
  }

  reset(): void {
    this.att.length = 0;
    this.commands.length = 0;
    this.dropped.length = 0;
    this.dropAt = null;
  }

  private newLink(id: number): void {
    this.linkId = id;
    this.l2cap.clear();
    this.commandBytes = [];
    this.commandIndex = 0;
    this.commandType = null;
    this.commandAssembler.reset();
    this.resultIndex = 0;
    this.answering = null;
  }

  private followCommand(frame: Uint8Array): GattFrame {
    const first = (frame[0]! & 0x80) !== 0;
    if (first) {
      this.commandBytes = [];
      this.commandIndex = 0;
      this.commandType = null;
    }
    this.commandBytes.push(...frame.subarray(first ? 3 : 1));
    this.commandType ??= typeIn(this.commandBytes);
    const seen: GattFrame = { direction: "command", type: this.commandType, index: this.commandIndex++ };
    const whole = this.commandAssembler.push(frame);
    if (whole !== null) {
      this.answering = decodeCommand(whole).type;
      this.commands.push(this.answering);
      this.resultIndex = 0;
    }
    return seen;
  }

  private followResult(frame: Uint8Array): GattFrame {
    const seen: GattFrame = { direction: "result", type: this.answering, index: this.resultIndex++ };
    if ((frame[0]! & 0x40) !== 0) this.resultIndex = 0;
    return seen;
  }
}

/** The `type` of a command from the first bytes of its CBOR map, once they hold it: key "type", then a short text. */
function typeIn(bytes: number[]): string | null {
  const key = [0x64, 0x74, 0x79, 0x70, 0x65];
  for (let i = 0; i + key.length < bytes.length; i++) {
    if (!key.every((b, j) => bytes[i + j] === b)) continue;
    const head = bytes[i + key.length]!;
    if (head >> 5 !== 3 || (head & 0x1f) >= 24) return null;
    const end = i + key.length + 1 + (head & 0x1f);
    if (end > bytes.length) return null;
    return Buffer.from(bytes.slice(i + key.length + 1, end)).toString("utf8");
  }
  return null;
}

type TransportName = "virtual" | "hci-emulated";

/** What the suite needs from a transport: centrals for the bridge and phones, the lock's options, the faults. */
interface Transport {
  bridgeNoble: Noble;
  /** The phones' central: one for the suite (on the emulated air, one noble per controller). */
  phoneNoble: Noble;
  /** What `startLock` needs to put the lock's peripheral on this transport. */
  lockOptions: Partial<LockOptions>;
  /** The ATT MTU of the links opened from now on (null: each stack's default). */
  setMtu(mtu: number | null): void;
  setInRange(lock: SimLock, inRange: boolean): void;
  /** Back to no faults and default MTU, the watch hooked again. */
  reset(): void;
  /** What to print when a test fails (the emulated controllers' btmon-like log). */
  debugLines(): string[];
  close(): void;
}

/** lock-sim's virtual radio of the site: the bridge's and each phone's noble over their own bindings. */
async function virtualTransport(site: Site, watch: GattWatch): Promise<Transport> {
  const withBindings = await loadNobleWithBindings();
  const bridgeCentral = site.radio.bindings();
  const opcodes: Record<RadioPdu["op"], number> = {
    "discover-services": ATT_READ_BY_GROUP_TYPE_REQUEST,
    write: ATT_WRITE_REQUEST,
    notify: ATT_NOTIFICATION,
  };
  const hook = (pdu: RadioPdu) => {
    const from = pdu.op === "notify" ? "lock" : pdu.central === bridgeCentral ? "bridge" : "phone";
    // A whole ATT PDU: its opcode and handle (3 bytes) around the value; a Read By Group Type request is 7 bytes.
    const length = pdu.op === "discover-services" ? 7 : 3 + pdu.data.length;
    return watch.observe(pdu.link, from, opcodes[pdu.op], length, pdu.data) ? "drop-link" : undefined;
  };
  site.radio.setFault(hook);
  const phoneCentral = site.radio.bindings();
  const phoneNoble = withBindings(phoneCentral);
  return {
    bridgeNoble: withBindings(bridgeCentral),
    phoneNoble,
    lockOptions: {},
    setMtu: (mtu) => site.radio.setMtu(mtu ?? 23),
    setInRange: (lock, inRange) => site.radio.setInRange(lock.id, inRange),
    reset() {
      site.radio.setMtu(23);
      site.radio.setFault(hook);
    },
    debugLines: () => [],
    close() {
      phoneNoble.removeAllListeners();
      phoneCentral.stop();
      bridgeCentral.stop();
    },
  };
}

/** Three emulated controllers on one air: the lock's (this process's hci0, where bleno goes), the bridge's, a phone's. */
function hciTransport(watch: GattWatch, air: Air, hciLog: HciLog): Transport {
  const lockHci = new EmulatedController(air, { address: "c0:de:00:00:00:01", name: "lock", log: hciLog.sink });
  const bridgeHci = new EmulatedController(air, { address: "c0:de:00:00:00:02", name: "bridge", log: hciLog.sink });
  const phoneHci = new EmulatedController(air, { address: "c0:de:00:00:00:03", name: "phone", log: hciLog.sink });
  // bleno loads the ordinary way in startLock({hardwareBle: true}): this process's hci0 is the lock's controller.
  const uninstall = installEmulatedHci(new EmulatedAdapters([lockHci]));
  process.env.BLENO_HCI_DEVICE_ID = "0";
  air.setFault(watch.airHook);
  // One noble per controller for the whole suite: a second would reset the controller under the first.
  const phoneNoble = loadNoble(phoneHci);
  return {
    // The bridge never imports lock-sim: it is handed the loader, as `loadHardwareNoble` would load noble on hci0.
    bridgeNoble: loadNoble(bridgeHci),
    phoneNoble,
    // One lock per process: bleno drives one adapter.
    lockOptions: { hardwareBle: true, radio: undefined },
    setMtu: (mtu) => air.configure({ attMtu: mtu }),
    setInRange: (_lock, inRange) => air.setInRange("lock", "bridge", inRange),
    reset() {
      air.configure({ lossRate: 0, attMtu: null, latencyMs: 0, connectionEventMs: 0 });
      air.setFault(watch.airHook);
    },
    debugLines: () => hciLog.lines.slice(-300),
    close() {
      phoneNoble.removeAllListeners();
      uninstall();
      delete process.env.BLENO_HCI_DEVICE_ID;
      air.close();
    },
  };
}

/** The suite on one transport: ble.test.ts runs it on the virtual radio, ble-hci.test.ts on the emulated controllers, so the two run as separate files in parallel. */
export function bleSuite(transportName: TransportName): void {
  describe(`whole site over BLE (${transportName}): the bridge's BLE gateway and phones, noble centrals, and a lock's peripheral`, () => {
    const hci = transportName === "hci-emulated";
    const hciLog = new HciLog();
    const air = new Air({ seed: "site-ble-hci", log: hciLog.sink });
    const watch = new GattWatch("lock");
    const bridgeLog = new LogCapture();
    let transport: Transport;
    let site: Site;
    let bridge: RunningBridge;
    const cleanups: (() => unknown)[] = [];

    beforeAll(async () => {
      site = await createSite({ vendor: "ble" });
      transport = hci ? hciTransport(watch, air, hciLog) : await virtualTransport(site, watch);
      const noble = transport.bridgeNoble;
      bridge = await site.startBridge(
        {
          ble: { enabled: true, scanSeconds: 1, pollSeconds: 86_400, commandTimeoutSeconds: COMMAND_TIMEOUT_S },
          log: { level: "debug" },
        },
        { loadNoble: async () => noble, logStream: bridgeLog },
      );
      // The loop's first round (nothing advertises yet); every later round is the test's.
      await until("the gateway's first round", () => bridgeLog.lines.some((l) => l.msg === "BLE round done"));
    });

    afterAll(async () => {
      await site?.close();
      transport?.bridgeNoble.removeAllListeners();
      transport?.close();
      if (!hci) air.close();
    });

    afterEach(async () => {
      for (const step of cleanups.splice(0).reverse()) await step();
      transport.reset();
      watch.reset();
    });

    function printLogOnFailure(): void {
      onTestFailed(() => {
        process.stderr.write(`${transport.debugLines().join("\n")}\n`);
        const warnings = bridgeLog.lines.filter((l) => Number(l.level) >= 40 || l.part === "ble");
        process.stderr.write(`${warnings.map((l) => JSON.stringify(l)).join("\n")}\n`);
      });
    }

    /** A claimed lock whose peripheral is on this transport, stopped after the test. */
    async function bleLock(lockId: string): Promise<SimLock> {
      const lock = await site.startLock(lockId, transport.lockOptions);
      cleanups.push(() => lock.stop());
      return lock;
    }

    /** One round of the gateway, which must reach `lock`. */
    async function visit(lock: SimLock): Promise<void> {
      const { locks } = await bridge.bleRound()!;
      expect(locks).toContain(lock.id);
    }

    /** The `v` of the latest signed state the bridge holds for a lock (its status page's word). */
    async function heldV(lockId: string): Promise<number> {
      const snapshot = (await (await fetch(`${bridge.metricsUrl}/status/snapshot.json`)).json()) as Json;
      return snapshot.locks.find((l: Json) => l.lockId === lockId)?.heldV ?? 0;
    }

    /** Waits for the bridge to hold a state newer than the one the lock runs, then visits. */
    async function visitWithNewerState(lock: SimLock): Promise<void> {
      await until(`a state newer than v ${lock.stateV} for ${lock.id} at the bridge`, async () => {
        return (await heldV(lock.id)) > lock.stateV;
      });
      await visit(lock);
    }

    /** Sessions the gateway could not open (`latchkey_bridge_ble_rounds_total{result="connect_failed"}`). */
    async function connectFailures(): Promise<number> {
      const metrics = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
      return Number(/latchkey_bridge_ble_rounds_total\{result="connect_failed"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    }

    /** Warnings the gateway logged for failed visit steps since `from`. */
    function failedSteps(from: number): Json[] {
      return bridgeLog.lines.slice(from).filter((l) => l.msg === "a BLE visit step failed");
    }

    /**
     * Each of the lock's key events up to `upTo` is in the cloud's events list exactly once (the list shows key events;
     * `state_applied` and `clock_set` show in the ack instead).
     */
    async function inTheCloudOnce(lock: SimLock, upTo: number): Promise<void> {
      const expected = lock.events.filter((e) => e.seq <= upTo && KEY_EVENTS.has(e.type)).map((e) => toHex(e.id));
      expect(expected.length).toBeGreaterThan(0);
      await until(`events up to seq ${upTo} of ${lock.id} in the cloud`, async () => {
        const ids = new Set((await cloudEvents(site)).map((e) => e.id));
        return expected.every((id) => ids.has(id));
      });
      const mine = (await cloudEvents(site)).filter((e) => e.lockId === lock.id).map((e) => e.id as string);
      expect(new Set(mine).size).toBe(mine.length);
    }

    /**
     * The journey of test/site/ble.test.ts, visit by visit: a denied attempt waits in the ring of a lock with no state;
     * the first visit's `ping` brings the lock's keys, from which the cloud signs its first state; the second hands it
     * over with a signed time answer and pulls the sealed reports; the cloud's ack comes back in the state the third
     * visit hands over, and frees them.
     */
    async function journey(lock: SimLock): Promise<void> {
      deniedAttempt(lock, 1);
      const denied = lock.events.at(-1)!;
      expect(denied.type).toBe("denied");
      await visit(lock);
      await visitWithNewerState(lock);
      expect(lock.stateV).toBeGreaterThan(0);
      expect(lock.clockSet).toBe(true);
      await inTheCloudOnce(lock, denied.seq);
      await visitWithNewerState(lock);
      expect(lock.signedState!.ack).toBeGreaterThanOrEqual(denied.seq);
      expect(bridge.outbox().items).toBe(0);
    }

    for (const mtu of [23, 247]) {
      it(`at ATT MTU ${mtu}: signed state and time over BLE, the lock's reports to the cloud, the ack frees them`, async () => {
        printLogOnFailure();
        transport.setMtu(mtu);
        const lock = await bleLock(`ble-mtu-${mtu}`);
        await journey(lock);
        // Both stacks really ran at that MTU: the state went in writes that fill it, and no ATT PDU exceeded it.
        expect(watch.largest("bridge", ATT_WRITE_REQUEST)).toBe(mtu);
        expect(watch.largest("lock", ATT_NOTIFICATION)).toBeLessThanOrEqual(mtu);
        expect(watch.commands).toEqual(
          expect.arrayContaining(["ping", "state", "time_request", "time_answer", "reports"]),
        );
      });
    }

    // The virtual radio sits above the link layer, where BLE loses nothing: only the emulated air has packets to lose.
    if (hci)
      it("emulated controllers only: with packet loss, the link layer resends, every report arrives once", async () => {
        printLogOnFailure();
        air.configure({ lossRate: 0.2, attMtu: 23, latencyMs: 1, connectionEventMs: 1 });
        const before = { ...air.stats };
        const lock = await bleLock("ble-lossy");
        await journey(lock);
        expect(air.stats.dataLost - before.dataLost).toBeGreaterThan(0);
      });

    it("links dropped mid-transfer, each way: nothing lost, nothing applied twice, each broken visit ends at the drop", async () => {
      printLogOnFailure();
      transport.setMtu(23);
      const lock = await bleLock("ble-dropped");
      deniedAttempt(lock, 1);
      const denied = lock.events.at(-1)!;

      // The link drops as the gateway starts discovering the lock's service: the session fails to open, at once.
      let mark = bridgeLog.lines.length;
      watch.dropAt = (att) => att.from === "bridge" && att.opcode === ATT_READ_BY_GROUP_TYPE_REQUEST;
      expect((await bridge.bleRound()!).locks).toEqual([]);
      expect(watch.dropped).toHaveLength(1);
      const opening = bridgeLog.lines.slice(mark).filter((l) => l.msg === "could not open a BLE session");
      expect(opening.map((l) => l.err)).toEqual([expect.stringMatching(/disconnected/)]);

      await visit(lock);
      await until("the lock's first state at the bridge", async () => (await heldV(lock.id)) > 0);
      const held = await heldV(lock.id);
      const broken: Json[] = [];

      // The link drops as the state's third frame crosses: the lock throws the partial command away.
      mark = bridgeLog.lines.length;
      watch.dropAt = ({ frame: f }) => f?.direction === "command" && f.type === "state" && f.index === 2;
      await visit(lock);
      expect(watch.dropped).toHaveLength(2);
      expect(lock.stateV).toBe(0);
      broken.push(...failedSteps(mark));

      // The link drops before the lock's answer to the state: the lock applied it, the gateway never heard.
      mark = bridgeLog.lines.length;
      watch.dropAt = ({ frame: f }) => f?.direction === "result" && f.type === "state";
      await visit(lock);
      expect(watch.dropped).toHaveLength(3);
      expect(lock.stateV).toBe(held);
      broken.push(...failedSteps(mark));

      // The next visit's ping says the lock runs it: not sent again. The link drops mid-answer to `reports`.
      mark = bridgeLog.lines.length;
      let commands = watch.commands.length;
      watch.dropAt = ({ frame: f }) => f?.direction === "result" && f.type === "reports" && f.index === 1;
      await visit(lock);
      expect(watch.dropped).toHaveLength(4);
      expect(watch.commands.slice(commands)).not.toContain("state");
      expect(lock.clockSet).toBe(true);
      broken.push(...failedSteps(mark));

      // Whole visits: the reports the gateway lost are pulled again and reach the cloud once; the ack frees them.
      commands = watch.commands.length;
      await visit(lock);
      await inTheCloudOnce(lock, denied.seq);
      await visitWithNewerState(lock);
      expect(lock.signedState!.ack).toBeGreaterThanOrEqual(denied.seq);
      expect(bridge.outbox().items).toBe(0);
      // Every state the lock took, it took once.
      const applied = lock.events.filter((e) => e.type === "state_applied").map((e) => e.v);
      expect(new Set(applied).size).toBe(applied.length);
      // Each broken visit failed at the drop and named it, rather than after a command timeout (noble never calls a
      // write back once its link is gone), and ran none of its later steps.
      expect(broken.map((f) => f.step)).toEqual(["state", "state", "reports"]);
      for (const failure of broken) expect(failure.err).toMatch(/disconnected/);
    });

    it("a lock out of range while the gateway connects: the attempt is cancelled, the round ends, the next serves it", async () => {
      printLogOnFailure();
      const lock = await bleLock("ble-walked-away");
      const failedBefore = await connectFailures();
      // Out of range the moment the gateway hears it: its LE Create Connection can never complete.
      transport.bridgeNoble.once("discover", () => transport.setInRange(lock, false));
      let ended = false;
      const round = bridge.bleRound()!.finally(() => {
        ended = true;
      });
      await until("the round with the lock out of range to end", () => ended);
      expect((await round).locks).toEqual([]);
      expect(await connectFailures()).toBe(failedBefore + 1);
      // noble holds no pending connection, which would queue every later connect behind it: the next round connects.
      transport.setInRange(lock, true);
      const commands = watch.commands.length;
      await visit(lock);
      expect(watch.commands.slice(commands)).toContain("ping");
    });

    it("a phone whose link drops mid-unlock, each way, reconnects: its state is applied once, the door opens once per unlock the lock took", async () => {
      printLogOnFailure();
      transport.setMtu(23);
      const lock = await bleLock("ble-phone-dropped");
      await visit(lock);
      await visitWithNewerState(lock);
      const door = site.lockHolder(`/locks/${lock.id}/keys`);
      const key = await site.api.ok("POST", door, { userId: "+4790000031" });
      const other = await site.api.ok("POST", door, { userId: "+4790000032" });
      const phone = await site.phone("+4790000031");
      await site.api.ok("PUT", site.lockHolder(`/keys/${other.id}`), { state: "revoked" });
      await phone.prefetch(site.cloud.url);
      const carried = phone.states.find((st) => st.lockId === lock.id)!;
      expect(carried.v).toBeGreaterThan(lock.stateV);
      const phoneNoble = transport.phoneNoble;
      const unlocks = () => lock.events.filter((e) => e.type === "unlocked").length;

      // Before the lock's answer to the phone's state: the lock applied it, the phone never heard.
      watch.dropAt = ({ frame: f }) => f?.direction === "result" && f.type === "state";
      await expect(phone.unlock(lock.id, { noble: phoneNoble })).rejects.toThrow(/disconnected/);
      expect(lock.stateV).toBe(carried.v);
      // Mid-way through the unlock command: the lock throws the partial command away.
      watch.dropAt = ({ frame: f }) => f?.direction === "command" && f.type === "unlock" && f.index === 2;
      await expect(phone.unlock(lock.id, { noble: phoneNoble })).rejects.toThrow(/disconnected/);
      expect(unlocks()).toBe(0);
      // Before the answer to the unlock: the door opened, the phone never heard.
      watch.dropAt = ({ frame: f }) => f?.direction === "result" && f.type === "unlock";
      await expect(phone.unlock(lock.id, { noble: phoneNoble })).rejects.toThrow(/disconnected/);
      expect(unlocks()).toBe(1);
      expect(watch.dropped).toHaveLength(3);

      // Whole again: the lock's ping says it runs the phone's state, so it is not sent again; the door opens.
      const commands = watch.commands.length;
      const opened = await phone.unlock(lock.id, { noble: phoneNoble });
      expect(opened).toMatchObject({ ok: true, keyId: key.id });
      expect(opened.delivered).toBeUndefined();
      expect(watch.commands.slice(commands)).toEqual(["ping", "challenge", "unlock"]);
      expect(unlocks()).toBe(2);
      const applied = lock.events.filter((e) => e.type === "state_applied").map((e) => e.v);
      expect(applied.filter((v) => v === carried.v)).toHaveLength(1);
      // The bridge's next visit brings both unlocks to the cloud, once each.
      const last = lock.events.filter((e) => e.type === "unlocked").at(-1)!;
      await visit(lock);
      await inTheCloudOnce(lock, last.seq);
    });

    it("a phone, noble on its own central, hands the lock a newer state first and unlocks; the bridge reports it", async () => {
      printLogOnFailure();
      const lock = await bleLock("ble-phone-door");
      await visit(lock);
      await visitWithNewerState(lock);
      const door = site.lockHolder(`/locks/${lock.id}/keys`);
      const key = await site.api.ok("POST", door, { userId: "+4790000021" });
      const other = await site.api.ok("POST", door, { userId: "+4790000022" });
      const phone = await site.phone("+4790000021");
      const [otherKey] = await (await site.phone("+4790000022")).prefetch(site.cloud.url);
      // A revocation the bridge has not carried yet: the phone's prefetch brings the newer state.
      await site.api.ok("PUT", site.lockHolder(`/keys/${other.id}`), { state: "revoked" });
      await phone.prefetch(site.cloud.url);
      const carried = phone.states.find((st) => st.lockId === lock.id)!;
      expect(carried.v).toBeGreaterThan(lock.stateV);

      const phoneNoble = transport.phoneNoble;
      const opened = await phone.unlock(lock.id, { noble: phoneNoble });
      expect(opened).toMatchObject({ ok: true, keyId: key.id, delivered: { ok: true, v: carried.v } });
      expect(lock.stateV).toBe(carried.v);
      expect(lock.revoked).toContain(toHex(otherKey!.claims.cti));

      // The bridge's next visit brings the unlock event to the cloud.
      const unlocked = lock.events.find((e) => e.type === "unlocked")!;
      await visit(lock);
      await inTheCloudOnce(lock, unlocked.seq);
      expect((await cloudEvents(site)).find((e) => e.id === toHex(unlocked.id))).toMatchObject({ keyId: key.id });

      // A revocation of the phone's own key, carried by the bridge in a state whose ack frees the unlock event: the
      // phone is refused.
      await site.api.ok("PUT", site.lockHolder(`/keys/${key.id}`), { state: "revoked" });
      await visitWithNewerState(lock);
      expect(lock.revoked).toContain(toHex(phone.keys.find((k) => k.keyId === key.id)!.claims.cti));
      expect(lock.signedState!.ack).toBeGreaterThanOrEqual(unlocked.seq);
      expect(await phone.unlock(lock.id, { noble: phoneNoble })).toMatchObject({ ok: false, code: "revoked" });
      const metrics = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
      expect(metrics).toMatch(/latchkey_bridge_lock_states_relayed_total [1-9]/);
      expect(metrics).toMatch(/latchkey_bridge_time_answers_relayed_total [1-9]/);
    });
  });
}
