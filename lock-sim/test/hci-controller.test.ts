import { describe, expect, it } from "vitest";
import {
  command,
  decodeAdvertisingReports,
  decodeEventParams,
  decodeHandleCounts,
  decodeLeEventParams,
  EVT,
  encodePacket,
  type HciPacket,
  LE_EVT,
  OP,
  STATUS,
} from "../src/ble/hci-emulator/hci-codec.js";
import {
  Air,
  type AirOptions,
  type ControllerOptions,
  EmulatedAdapters,
  EmulatedController,
  emulatedHciSocketClass,
  HciLog,
} from "../src/ble/hci-emulator/index.js";

/**
 * Emulated controllers driven with raw HCI packets, as a host drives them: each command answered per Core Vol 4
 * Part E 7, the events a host masked withheld, ACL data cut per LE buffer and data length, flow control both ways.
 * Everything runs on setImmediate turns (no latency configured), so "nothing more came" is checked by letting the
 * event loop go round until the emulator is idle.
 */
import { Host, hex, idle, NOBLE_SCAN_PARAMETERS } from "./helpers/hci-host.js";

const ALL_EVENTS = "ffffffffffffffff";
const LE_ALL = { leEventMask: hex("ff00000000000000") };
const CONNECTABLE = {
  advertisingIntervalMin: 0x00a0,
  advertisingIntervalMax: 0x00a0,
  advertisingType: 0,
  ownAddressType: 0,
  peerAddressType: 0,
  peerAddress: "00:00:00:00:00:00",
  advertisingChannelMap: 7,
  advertisingFilterPolicy: 0,
};
const CONNECT = {
  leScanInterval: 0x60,
  leScanWindow: 0x30,
  initiatorFilterPolicy: 0,
  peerAddressType: 0,
  peerAddress: "c0:de:00:00:00:02",
  ownAddressType: 0,
  connIntervalMin: 6,
  connIntervalMax: 12,
  connLatency: 0,
  supervisionTimeout: 42,
  minCeLength: 0,
  maxCeLength: 0,
};

function pair(airOptions: AirOptions = {}, a: Partial<ControllerOptions> = {}, b: Partial<ControllerOptions> = {}) {
  const log = new HciLog();
  const air = new Air({ seed: "controller", log: log.sink, ...airOptions });
  const central = new Host(
    new EmulatedController(air, { address: "c0:de:00:00:00:01", name: "a", log: log.sink, ...a }),
  );
  const peripheral = new Host(
    new EmulatedController(air, { address: "c0:de:00:00:00:02", name: "b", log: log.sink, ...b }),
  );
  return { air, log, central, peripheral };
}

/** b advertises, a connects: returns both handles. */
async function connect(central: Host, peripheral: Host): Promise<{ ha: number; hb: number }> {
  await peripheral.command(command(OP.SET_EVENT_MASK, { eventMask: hex(ALL_EVENTS) }));
  await central.command(command(OP.SET_EVENT_MASK, { eventMask: hex(ALL_EVENTS) }));
  await peripheral.command(command(OP.LE_SET_ADVERTISING_PARAMETERS, CONNECTABLE));
  await peripheral.command(command(OP.LE_SET_ADVERTISING_ENABLE, { advertisingEnable: 1 }));
  expect(await central.command(command(OP.LE_CREATE_CONNECTION, CONNECT))).toEqual(Uint8Array.of(0));
  const a = decodeLeEventParams(LE_EVT.CONNECTION_COMPLETE, (await central.leEvent(LE_EVT.CONNECTION_COMPLETE)).params);
  const b = decodeLeEventParams(
    LE_EVT.CONNECTION_COMPLETE,
    (await peripheral.leEvent(LE_EVT.CONNECTION_COMPLETE)).params,
  );
  expect(a).toMatchObject({ status: 0, role: 0, peerAddress: "c0:de:00:00:00:02", connInterval: 6 });
  expect(b).toMatchObject({ status: 0, role: 1, peerAddress: "c0:de:00:00:00:01", supervisionTimeout: 42 });
  return { ha: a.handle, hb: b.handle };
}

/** An L2CAP PDU on the ATT channel holding `n` octets, as one ACL packet starting it. */
function l2cap(handle: number, n: number, fill = 0xab): Buffer {
  const data = Buffer.alloc(4 + n, fill);
  data.writeUInt16LE(n, 0);
  data.writeUInt16LE(0x0004, 2);
  return encodePacket({ type: "acl", handle, pb: 0b00, bc: 0, data });
}

describe("emulated controller: HCI commands and events", () => {
  it("answers an unknown command with Command Complete, Unknown HCI Command (0x01), and logs it", async () => {
    const { central, log } = pair();
    // LE Set Extended Scan Parameters, which noble sends in its extended mode
    const ret = await central.command(encodePacket({ type: "command", opcode: 0x2041, params: hex("000001") }));
    expect(ret).toEqual(Uint8Array.of(STATUS.UNKNOWN_HCI_COMMAND));
    expect(log.text()).toContain("[a] = unknown command 0x08|0x0041: answered Unknown HCI Command (0x01)");
  });

  it("refuses parameters of the wrong length or out of range with Invalid HCI Command Parameters (0x12)", async () => {
    const { central } = pair();
    const short = encodePacket({ type: "command", opcode: OP.LE_SET_SCAN_ENABLE, params: hex("01") });
    expect(await central.command(short)).toEqual(Uint8Array.of(0x12));
    const shortStatus = encodePacket({ type: "command", opcode: OP.LE_CREATE_CONNECTION, params: hex("00") });
    expect(await central.command(shortStatus)).toEqual(Uint8Array.of(0x12)); // answered by Command Status
    expect(
      await central.command(
        command(OP.LE_SET_SCAN_PARAMETERS, {
          leScanType: 1,
          leScanInterval: 0x10,
          leScanWindow: 0x20,
          ownAddressType: 0,
          scanningFilterPolicy: 0,
        }),
      ),
    ).toEqual(Uint8Array.of(0x12)); // window longer than interval
    // supervision timeout not above (1 + latency) × interval max × 2
    expect(
      await central.command(
        command(OP.LE_CREATE_CONNECTION, { ...CONNECT, connIntervalMax: 0x0c80, supervisionTimeout: 0x000a }),
      ),
    ).toEqual(Uint8Array.of(0x12));
    expect(await central.command(command(OP.LE_SET_ADVERTISING_ENABLE, { advertisingEnable: 2 }))).toEqual(
      Uint8Array.of(0x12),
    );
  });

  it("reports what noble and bleno read at start-up: version ≥ 4.0, address, LE buffers, supported commands", async () => {
    const { central } = pair({}, { leBuffer: { length: 27, count: 3 } });
    const version = await central.command(command(OP.READ_LOCAL_VERSION, {}));
    expect(version[0]).toBe(0);
    expect(version[1]).toBeGreaterThanOrEqual(0x06);
    expect(Buffer.from(await central.command(command(OP.READ_BD_ADDR, {}))).toString("hex")).toBe(
      "00010000 00dec0".replace(" ", ""),
    );
    expect(Buffer.from(await central.command(command(OP.LE_READ_BUFFER_SIZE, {}))).toString("hex")).toBe("001b0003");
    const commands = await central.command(command(OP.READ_LOCAL_SUPPORTED_COMMANDS, {}));
    expect(commands[1 + 26]! & 0x08).toBe(0x08); // LE Set Scan Enable
    expect(commands[1 + 37]! & 0x30).toBe(0); // no extended scanning: noble stays on the legacy commands
    await central.command(command(OP.WRITE_LE_HOST_SUPPORTED, { leSupportedHost: 1, simultaneousLeHost: 0 }));
    expect(await central.command(command(OP.READ_LE_HOST_SUPPORTED, {}))).toEqual(Uint8Array.of(0, 1, 0));
    // shared buffers: LE Read Buffer Size says 0 and the host reads the BR/EDR buffer size instead (7.8.2)
    const { peripheral } = pair({}, {}, { leBuffer: "shared" });
    expect(Buffer.from(await peripheral.command(command(OP.LE_READ_BUFFER_SIZE, {}))).toString("hex")).toBe("00000000");
    expect(Buffer.from(await peripheral.command(command(OP.READ_BUFFER_SIZE, {}))).toString("hex")).toBe(
      "00fb000008000000",
    ); // status, ACL length, SCO length, ACL count, SCO count
  });

  it("scans: an active scanner gets ADV_IND and SCAN_RSP once each with duplicate filtering; parameters are locked while scanning", async () => {
    const { central, peripheral } = pair();
    await peripheral.command(command(OP.LE_SET_ADVERTISING_PARAMETERS, CONNECTABLE));
    await peripheral.command(command(OP.LE_SET_ADVERTISING_DATA, { advertisingData: hex("020106") }));
    await peripheral.command(command(OP.LE_SET_SCAN_RESPONSE_DATA, { scanResponseData: hex("0308616263") }));
    await peripheral.command(command(OP.LE_SET_ADVERTISING_ENABLE, { advertisingEnable: 1 }));
    await central.command(command(OP.SET_EVENT_MASK, { eventMask: hex(ALL_EVENTS) }));
    await central.command(command(OP.LE_SET_SCAN_PARAMETERS, NOBLE_SCAN_PARAMETERS));
    await central.command(command(OP.LE_SET_SCAN_ENABLE, { leScanEnable: 1, filterDuplicates: 1 }));
    const adv = decodeAdvertisingReports((await central.leEvent(LE_EVT.ADVERTISING_REPORT)).params);
    const rsp = decodeAdvertisingReports((await central.leEvent(LE_EVT.ADVERTISING_REPORT)).params);
    expect(adv).toEqual([
      { eventType: 0, addressType: 0, address: "c0:de:00:00:00:02", data: Uint8Array.from(hex("020106")), rssi: -55 },
    ]);
    expect(rsp[0]).toMatchObject({ eventType: 4, data: Uint8Array.from(hex("0308616263")) });
    expect(
      await central.command(
        command(OP.LE_SET_SCAN_PARAMETERS, {
          leScanType: 0,
          leScanInterval: 0x12,
          leScanWindow: 0x12,
          ownAddressType: 0,
          scanningFilterPolicy: 0,
        }),
      ),
    ).toEqual(Uint8Array.of(STATUS.COMMAND_DISALLOWED));
    // a changed advertisement goes out again, but the duplicate filter keeps it from the host
    await peripheral.command(command(OP.LE_SET_ADVERTISING_DATA, { advertisingData: hex("020105") }));
    await idle();
    expect(central.pending().filter((p) => p.type === "event" && p.code === EVT.LE_META)).toEqual([]);
    await central.command(command(OP.LE_SET_SCAN_ENABLE, { leScanEnable: 0, filterDuplicates: 0 }));
    await central.command(command(OP.LE_SET_SCAN_ENABLE, { leScanEnable: 1, filterDuplicates: 0 }));
    const again = decodeAdvertisingReports((await central.leEvent(LE_EVT.ADVERTISING_REPORT)).params);
    expect(again[0]!.data).toEqual(Uint8Array.from(hex("020105")));
  });

  it("withholds events the host masked: LE Meta subevents by the LE event mask, the rest by the event mask", async () => {
    const { central, peripheral, log } = pair();
    await peripheral.command(command(OP.LE_SET_ADVERTISING_PARAMETERS, CONNECTABLE));
    await peripheral.command(command(OP.LE_SET_ADVERTISING_ENABLE, { advertisingEnable: 1 }));
    // the central's host left LE Meta out of its event mask (the default mask after reset does)
    expect(await central.command(command(OP.LE_CREATE_CONNECTION, CONNECT))).toEqual(Uint8Array.of(0));
    await idle();
    expect(central.pending().filter((p) => p.type === "event" && p.code === EVT.LE_META)).toEqual([]);
    expect(log.text()).toContain("[a] = LE subevent 0x1 not sent: masked by the host");
    // the peripheral's host masks Disconnect Complete
    await peripheral.command(command(OP.SET_EVENT_MASK, { eventMask: hex("efffffffffffffff") }));
    expect(await central.command(command(OP.DISCONNECT, { handle: 0x40, reason: 0x13 }))).toEqual(Uint8Array.of(0));
    await central.event(EVT.DISCONNECTION_COMPLETE); // not masked for the central (default mask has bit 4)
    await idle();
    expect(peripheral.pending().filter((p) => p.type === "event" && p.code === EVT.DISCONNECTION_COMPLETE)).toEqual([]);
    expect(log.text()).toContain("[b] = event 0x5 not sent: masked by the host");
  });

  it("cuts ACL data into PDUs of the connection's data length and reports each packet with Number Of Completed Packets", async () => {
    const { central, peripheral, air } = pair();
    const { ha, hb } = await connect(central, peripheral);
    central.send(l2cap(ha, 96)); // 100 octets: 27 + 27 + 27 + 19 on air at the default 27-octet data length
    const pieces: Extract<HciPacket, { type: "acl" }>[] = [];
    for (let i = 0; i < 4; i++) pieces.push(await peripheral.acl());
    expect(pieces.map((p) => [p.handle, p.pb, p.data.length])).toEqual([
      [hb, 0b10, 27],
      [hb, 0b01, 27],
      [hb, 0b01, 27],
      [hb, 0b01, 19],
    ]);
    expect(Buffer.concat(pieces.map((p) => p.data))).toEqual(l2cap(ha, 96).subarray(5));
    const done = decodeHandleCounts((await central.event(EVT.NUMBER_OF_COMPLETED_PACKETS)).params, "NOCP");
    expect(done).toEqual([{ handle: ha, count: 1 }]);
    expect(air.activeLinks()[0]!.delivered.get(central.controller)).toBe(4);
  });

  it("raises the data length on LE Set Data Length and tells both hosts, when they asked for Data Length Change", async () => {
    const { central, peripheral } = pair();
    const { ha, hb } = await connect(central, peripheral);
    await central.command(command(OP.LE_SET_EVENT_MASK, LE_ALL));
    await peripheral.command(command(OP.LE_SET_EVENT_MASK, LE_ALL));
    expect(
      Buffer.from(
        await central.command(command(OP.LE_SET_DATA_LENGTH, { handle: ha, txOctets: 251, txTime: 2120 })),
      ).toString("hex"),
    ).toBe(`00${ha.toString(16)}00`);
    const change = decodeLeEventParams(
      LE_EVT.DATA_LENGTH_CHANGE,
      (await central.leEvent(LE_EVT.DATA_LENGTH_CHANGE)).params,
    );
    expect(change).toEqual({ handle: ha, maxTxOctets: 251, maxTxTime: 2120, maxRxOctets: 27, maxRxTime: 328 });
    const seen = decodeLeEventParams(
      LE_EVT.DATA_LENGTH_CHANGE,
      (await peripheral.leEvent(LE_EVT.DATA_LENGTH_CHANGE)).params,
    );
    expect(seen).toMatchObject({ handle: hb, maxTxOctets: 27, maxRxOctets: 251 });
    central.send(l2cap(ha, 96));
    const whole = await peripheral.acl();
    expect([whole.pb, whole.data.length]).toEqual([0b10, 100]);
    expect(
      await central.command(command(OP.LE_SET_DATA_LENGTH, { handle: 0x0eee, txOctets: 251, txTime: 2120 })),
    ).toEqual(Uint8Array.of(STATUS.UNKNOWN_CONNECTION_IDENTIFIER, 0xee, 0x0e));
  });

  it("host to controller flow control: more packets than LE buffers, or longer ones, overflow and are dropped", async () => {
    const { central, peripheral, log } = pair({}, { leBuffer: { length: 27, count: 2 } });
    const { ha } = await connect(central, peripheral);
    const small = encodePacket({ type: "acl", handle: ha, pb: 0, bc: 0, data: Buffer.alloc(20) });
    central.send(small);
    central.send(small);
    central.send(small); // the third, with both buffers taken
    central.send(encodePacket({ type: "acl", handle: ha, pb: 0, bc: 0, data: Buffer.alloc(28) }));
    const overflow = decodeEventParams(
      EVT.DATA_BUFFER_OVERFLOW,
      (await central.event(EVT.DATA_BUFFER_OVERFLOW)).params,
    );
    expect(overflow).toEqual({ linkType: 0x01 });
    await central.event(EVT.DATA_BUFFER_OVERFLOW);
    expect(log.text()).toContain("host wrote ACL data with all 2 buffers in use: dropped");
    expect(log.text()).toContain("host wrote 28 octets of ACL data, over the 27-octet buffer: dropped");
    await central.event(EVT.NUMBER_OF_COMPLETED_PACKETS);
    await central.event(EVT.NUMBER_OF_COMPLETED_PACKETS);
    await idle();
    expect(peripheral.pending().filter((p) => p.type === "acl")).toHaveLength(2);
  });

  it("controller to host flow control: with it on, data waits for Host Number Of Completed Packets", async () => {
    const { central, peripheral } = pair();
    await peripheral.command(command(OP.SET_CONTROLLER_TO_HOST_FLOW_CONTROL, { flowControlEnable: 1 }));
    await peripheral.command(
      command(OP.HOST_BUFFER_SIZE, {
        aclDataPacketLength: 20,
        syncDataPacketLength: 0,
        totalNumAclDataPackets: 2,
        totalNumSyncDataPackets: 0,
      }),
    );
    const { ha, hb } = await connect(central, peripheral);
    // it cannot change while connected
    expect(await peripheral.command(command(OP.SET_CONTROLLER_TO_HOST_FLOW_CONTROL, { flowControlEnable: 0 }))).toEqual(
      Uint8Array.of(STATUS.COMMAND_DISALLOWED),
    );
    central.send(l2cap(ha, 46)); // 50 octets: PDUs of 27 + 23, each cut to the host's 20-octet buffers: 20, 7, 20, 3
    const first = [await peripheral.acl(), await peripheral.acl()];
    await idle();
    expect(peripheral.pending().filter((p) => p.type === "acl")).toEqual([]);
    peripheral.send(
      encodePacket({
        type: "command",
        opcode: OP.HOST_NUMBER_OF_COMPLETED_PACKETS,
        params: hex(`01${hb.toString(16).padStart(2, "0")}000200`),
      }),
    );
    const rest = [await peripheral.acl(), await peripheral.acl()];
    expect([...first, ...rest].map((p) => [p.pb, p.data.length])).toEqual([
      [0b10, 20],
      [0b01, 7],
      [0b01, 20],
      [0b01, 3],
    ]);
  });

  it("disconnects: the host that asked gets 0x16, its peer the reason; unknown handles and bad reasons are refused", async () => {
    const { central, peripheral } = pair();
    const { ha, hb } = await connect(central, peripheral);
    expect(await central.command(command(OP.DISCONNECT, { handle: ha, reason: 0x08 }))).toEqual(Uint8Array.of(0x12));
    expect(await central.command(command(OP.DISCONNECT, { handle: 0x0eee, reason: 0x13 }))).toEqual(
      Uint8Array.of(0x02),
    );
    expect(await peripheral.command(command(OP.DISCONNECT, { handle: hb, reason: 0x13 }))).toEqual(Uint8Array.of(0));
    expect(
      decodeEventParams(EVT.DISCONNECTION_COMPLETE, (await peripheral.event(EVT.DISCONNECTION_COMPLETE)).params),
    ).toEqual({
      status: 0,
      handle: hb,
      reason: STATUS.CONNECTION_TERMINATED_BY_LOCAL_HOST,
    });
    expect(
      decodeEventParams(EVT.DISCONNECTION_COMPLETE, (await central.event(EVT.DISCONNECTION_COMPLETE)).params),
    ).toEqual({
      status: 0,
      handle: ha,
      reason: STATUS.REMOTE_USER_TERMINATED_CONNECTION,
    });
  });

  it("updates connection parameters on both ends, reads RSSI, and cancels a connection attempt", async () => {
    const { central, peripheral, air } = pair();
    const { ha, hb } = await connect(central, peripheral);
    const update = {
      handle: ha,
      connIntervalMin: 24,
      connIntervalMax: 40,
      connLatency: 4,
      supervisionTimeout: 500,
      minCeLength: 0,
      maxCeLength: 0,
    };
    expect(await central.command(command(OP.LE_CONNECTION_UPDATE, update))).toEqual(Uint8Array.of(0));
    const mine = decodeLeEventParams(
      LE_EVT.CONNECTION_UPDATE_COMPLETE,
      (await central.leEvent(LE_EVT.CONNECTION_UPDATE_COMPLETE)).params,
    );
    const theirs = decodeLeEventParams(
      LE_EVT.CONNECTION_UPDATE_COMPLETE,
      (await peripheral.leEvent(LE_EVT.CONNECTION_UPDATE_COMPLETE)).params,
    );
    expect(mine).toEqual({ status: 0, handle: ha, connInterval: 24, connLatency: 4, supervisionTimeout: 500 });
    expect(theirs).toMatchObject({ handle: hb, connInterval: 24 });
    air.setRssi("a", "b", -71);
    expect(await central.command(command(OP.READ_RSSI, { handle: ha }))).toEqual(Uint8Array.of(0, ha, 0, 0xb9));
    expect(await central.command(command(OP.READ_RSSI, { handle: 0x0eee }))).toEqual(
      Uint8Array.of(0x02, 0xee, 0x0e, 0),
    );
    // a connection attempt to a device that is not advertising, cancelled
    expect(
      await central.command(command(OP.LE_CREATE_CONNECTION, { ...CONNECT, peerAddress: "c0:de:00:00:00:99" })),
    ).toEqual(Uint8Array.of(0));
    expect(
      await central.command(command(OP.LE_CREATE_CONNECTION, { ...CONNECT, peerAddress: "c0:de:00:00:00:98" })),
    ).toEqual(Uint8Array.of(STATUS.COMMAND_DISALLOWED));
    expect(await central.command(command(OP.LE_CREATE_CONNECTION_CANCEL, {}))).toEqual(Uint8Array.of(0));
    const cancelled = decodeLeEventParams(
      LE_EVT.CONNECTION_COMPLETE,
      (await central.leEvent(LE_EVT.CONNECTION_COMPLETE)).params,
    );
    expect(cancelled.status).toBe(STATUS.UNKNOWN_CONNECTION_IDENTIFIER);
    expect(await central.command(command(OP.LE_CREATE_CONNECTION_CANCEL, {}))).toEqual(
      Uint8Array.of(STATUS.COMMAND_DISALLOWED),
    );
    // and a second connection to a peer already connected is refused
    expect(await central.command(command(OP.LE_CREATE_CONNECTION, CONNECT))).toEqual(
      Uint8Array.of(STATUS.CONNECTION_ALREADY_EXISTS),
    );
  });

  it("supervision timeout on demand, out of range, and after Reset: the peer sees Connection Timeout (0x08)", async () => {
    const { central, peripheral, air } = pair();
    const reasonOf = async (h: Host) =>
      decodeEventParams(EVT.DISCONNECTION_COMPLETE, (await h.event(EVT.DISCONNECTION_COMPLETE)).params).reason;
    await connect(central, peripheral);
    expect(air.dropLinks("a")).toBe(1);
    expect([await reasonOf(central), await reasonOf(peripheral)]).toEqual([0x08, 0x08]);
    await connect(central, peripheral);
    air.setInRange("c0:de:00:00:00:01", "b", false);
    expect([await reasonOf(central), await reasonOf(peripheral)]).toEqual([0x08, 0x08]);
    air.setInRange("a", "b", true);
    await connect(central, peripheral);
    await central.command(command(OP.RESET, {}));
    expect(await reasonOf(peripheral)).toBe(0x08);
    await idle();
    expect(central.pending().filter((p) => p.type === "event" && p.code === EVT.DISCONNECTION_COMPLETE)).toEqual([]);
  });

  it("loses and retransmits data PDUs the same way for the same seed, and times a link out when everything is lost", async () => {
    async function run(seed: string, timing: AirOptions = {}) {
      const { central, peripheral, air } = pair({ seed, lossRate: 0.3, ...timing });
      const { ha } = await connect(central, peripheral);
      for (let i = 0; i < 6; i++) {
        central.send(l2cap(ha, 96, i));
        const pieces = [];
        for (let k = 0; k < 4; k++) pieces.push(await peripheral.acl());
        expect(Buffer.concat(pieces.map((p) => p.data))).toEqual(l2cap(ha, 96, i).subarray(5));
      }
      return { lost: air.stats.dataLost, sent: air.stats.dataTransmissions };
    }
    const one = await run("loss");
    expect(one.lost).toBeGreaterThan(0);
    expect(one.sent).toBe(24 + one.lost);
    expect(await run("loss")).toEqual(one);
    expect(await run("other seed")).not.toEqual(one);
    // latency and connection-event spacing delay PDUs but change neither their order nor which ones are lost
    expect(await run("loss", { latencyMs: 2, connectionEventMs: 1 })).toEqual(one);

    const { central, peripheral, air } = pair();
    const { ha } = await connect(central, peripheral);
    air.configure({ lossRate: 1 });
    central.send(l2cap(ha, 10));
    const reason = decodeEventParams(
      EVT.DISCONNECTION_COMPLETE,
      (await central.event(EVT.DISCONNECTION_COMPLETE)).params,
    );
    expect(reason.reason).toBe(0x08);
    // 420 ms supervision timeout at a 7.5 ms interval: 56 missed events, then it gives up
    expect(air.stats.dataLost).toBe(57);
  });

  it("lowers the ATT MTU of Exchange MTU PDUs to the peers' ceiling when the air models one", async () => {
    const { central, peripheral, air, log } = pair({ attMtu: 23 });
    const { ha } = await connect(central, peripheral);
    central.send(encodePacket({ type: "acl", handle: ha, pb: 0, bc: 0, data: hex("0300040002" + "0001") }));
    expect(Buffer.from((await peripheral.acl()).data).toString("hex")).toBe("03000400021700");
    expect(air.stats.mtuLowered).toBe(1);
    expect(log.text()).toContain("ATT Client RX MTU 256 lowered to 23");
  });
});

describe("emulated HCI socket: the bluetooth-hci-socket surface", () => {
  it("lists adapters, binds by device id, filters, shows raw sockets each other's commands, keeps user channels exclusive", async () => {
    const air = new Air();
    const hci0 = new EmulatedController(air, { address: "c0:de:00:00:00:01", name: "hci0" });
    const hci1 = new EmulatedController(air, { address: "c0:de:00:00:00:02", name: "hci1" });
    const adapters = new EmulatedAdapters([hci0, hci1]);
    const Socket = emulatedHciSocketClass(adapters);
    const a = new Socket();
    expect(a.getDeviceList().map((d) => [d.devId, d.devUp])).toEqual([
      [0, true],
      [1, true],
    ]);
    expect(a.isDevUp()).toBe(false);
    expect(a.bindRaw(1)).toBe(1);
    expect(a.isDevUp()).toBe(true);
    expect(() => new Socket().bindRaw(7)).toThrow(/ENODEV/);
    const b = new Socket();
    expect(b.bindRaw()).toBe(0); // no id: the first that is up
    b.bindRaw(1);
    const got = { a: [] as string[], b: [] as string[] };
    a.on("data", (d: Buffer) => got.a.push(d.toString("hex")));
    b.on("data", (d: Buffer) => got.b.push(d.toString("hex")));
    a.setFilter(hex("16000000" + "00c00000" + "00000000" + "0000" + "0000")); // commands, ACL, events: CC/CS only
    b.setFilter(hex("10000000" + "00c00000" + "00000000" + "0000" + "0000")); // events only
    a.start();
    b.start();
    b.write(command(OP.RESET, {}));
    await idle();
    expect(got.a).toEqual(["01030c00", "040e0401030c00"]); // b's command, then the completion every socket sees
    expect(got.b).toEqual(["040e0401030c00"]);
    const user = new Socket();
    expect(user.bindUser(0)).toBe(0);
    expect(() => new Socket().bindUser(0)).toThrow(/EBUSY/);
    hci1.setUp(false);
    expect(a.isDevUp()).toBe(false);
    const errors: string[] = [];
    a.on("error", (e: NodeJS.ErrnoException) => errors.push(e.code ?? ""));
    a.write(command(OP.RESET, {}));
    expect(errors).toEqual(["ENETDOWN"]);
    const mgmt = new Socket();
    expect(mgmt.bindControl()).toBe(0);
    mgmt.write(hex("1300ffff0000")); // management commands are taken and ignored
    air.close();
  });
});
