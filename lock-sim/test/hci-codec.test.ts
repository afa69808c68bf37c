import { describe, expect, it } from "vitest";
import { formatPacket } from "../src/ble/hci-emulator/btmon-log.js";
import {
  addressToBytes,
  COMMANDS,
  command,
  decodeAdvertisingReports,
  decodeCommandParams,
  decodeEventParams,
  decodeHandleCounts,
  decodeLeEventParams,
  decodePacket,
  decodeReturnParams,
  EVENTS,
  EVT,
  encodeAdvertisingReports,
  encodeEventParams,
  encodeHandleCounts,
  encodeLeEventParams,
  encodePacket,
  encodeReturnParams,
  type Fields,
  type FieldValue,
  H4StreamParser,
  HciCodecError,
  LE_EVENTS,
  LE_EVT,
  OP,
  opcodeOf,
  type Schema,
} from "../src/ble/hci-emulator/hci-codec.js";
import { hciFilterPasses, parseHciFilter } from "../src/ble/hci-emulator/hci-filter.js";
import { seededRandom } from "../src/random.js";
import { NOBLE_SCAN_PARAMETERS } from "./helpers/hci-host.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("HCI codec: packets as Core Vol 4 Part E lays them out", () => {
  it("opcodes are OGF << 10 | OCF", () => {
    expect(OP.RESET).toBe(opcodeOf(0x03, 0x0003));
    expect(OP.LE_SET_SCAN_PARAMETERS).toBe(opcodeOf(0x08, 0x000b));
    expect(OP.DISCONNECT).toBe(opcodeOf(0x01, 0x0006));
    expect(OP.READ_RSSI).toBe(opcodeOf(0x05, 0x0005));
    expect(OP.LE_READ_MAXIMUM_DATA_LENGTH).toBe(opcodeOf(0x08, 0x002f));
  });

  it("encodes commands byte for byte as the spec and noble/bleno write them", () => {
    expect(toHex(command(OP.RESET, {}))).toBe("01030c00");
    expect(toHex(command(OP.LE_SET_SCAN_PARAMETERS, NOBLE_SCAN_PARAMETERS))).toBe("010b200701120012000000");
    expect(toHex(command(OP.LE_SET_SCAN_ENABLE, { leScanEnable: 1, filterDuplicates: 1 }))).toBe("010c20020101");
    expect(toHex(command(OP.DISCONNECT, { handle: 0x40, reason: 0x13 }))).toBe("0106040340001" + "3");
    // noble's createLeConn() to AA:BB:CC:DD:EE:FF: the address goes least significant octet first
    expect(
      toHex(
        command(OP.LE_CREATE_CONNECTION, {
          leScanInterval: 0x60,
          leScanWindow: 0x30,
          initiatorFilterPolicy: 0,
          peerAddressType: 0,
          peerAddress: "aa:bb:cc:dd:ee:ff",
          ownAddressType: 0,
          connIntervalMin: 0x06,
          connIntervalMax: 0x12,
          connLatency: 0,
          supervisionTimeout: 0x2a,
          minCeLength: 4,
          maxCeLength: 6,
        }),
      ),
    ).toBe(
      "010d2019" +
        "60003000" +
        "00" +
        "00" +
        "ffeeddccbbaa" +
        "00" +
        "0600" +
        "1200" +
        "0000" +
        "2a00" +
        "0400" +
        "0600",
    );
    // LE Set Advertising Data always carries 32 octets: the length, then 31 zero-padded (7.8.7)
    expect(toHex(command(OP.LE_SET_ADVERTISING_DATA, { advertisingData: hex("020106") }))).toBe(
      `01082020030201060${"0".repeat(55)}`,
    );
  });

  it("encodes events byte for byte", () => {
    const cc = (opcode: number, ret: string) =>
      toHex(
        encodePacket({
          type: "event",
          code: EVT.COMMAND_COMPLETE,
          params: encodeEventParams(EVT.COMMAND_COMPLETE, {
            numHciCommandPackets: 1,
            opcode,
            returnParameters: hex(ret),
          }),
        }),
      );
    expect(cc(OP.RESET, "00")).toBe("040e0401030c00");
    expect(
      cc(OP.READ_BD_ADDR, toHex(encodeReturnParams(OP.READ_BD_ADDR, { status: 0, bdAddr: "aa:bb:cc:dd:ee:ff" }))),
    ).toBe("040e0a01091000ffeeddccbbaa");
    expect(
      cc(
        OP.LE_READ_BUFFER_SIZE,
        toHex(
          encodeReturnParams(OP.LE_READ_BUFFER_SIZE, {
            status: 0,
            leAclDataPacketLength: 251,
            totalNumLeAclDataPackets: 8,
          }),
        ),
      ),
    ).toBe("040e07010220" + "00fb0008");
    const status = encodeEventParams(EVT.COMMAND_STATUS, {
      status: 0,
      numHciCommandPackets: 1,
      opcode: OP.LE_CREATE_CONNECTION,
    });
    expect(toHex(encodePacket({ type: "event", code: EVT.COMMAND_STATUS, params: status }))).toBe("040f0400010d20");
    const disconnected = encodeEventParams(EVT.DISCONNECTION_COMPLETE, { status: 0, handle: 0x40, reason: 0x13 });
    expect(toHex(encodePacket({ type: "event", code: EVT.DISCONNECTION_COMPLETE, params: disconnected }))).toBe(
      "0405040040001" + "3",
    );
    expect(
      toHex(
        encodePacket({
          type: "event",
          code: EVT.NUMBER_OF_COMPLETED_PACKETS,
          params: encodeHandleCounts([{ handle: 0x40, count: 1 }]),
        }),
      ),
    ).toBe("0413050140000100");
    const connected = encodeLeEventParams(LE_EVT.CONNECTION_COMPLETE, {
      status: 0,
      handle: 0x40,
      role: 0,
      peerAddressType: 0,
      peerAddress: "aa:bb:cc:dd:ee:ff",
      connInterval: 6,
      connLatency: 0,
      supervisionTimeout: 0x2a,
      masterClockAccuracy: 0,
    });
    expect(toHex(encodePacket({ type: "event", code: EVT.LE_META, params: connected }))).toBe(
      "043e13" + "01" + "00" + "4000" + "00" + "00" + "ffeeddccbbaa" + "0600" + "0000" + "2a00" + "00",
    );
    const report = encodeAdvertisingReports([
      { eventType: 4, addressType: 0, address: "aa:bb:cc:dd:ee:ff", data: hex("020106"), rssi: -55 },
    ]);
    expect(toHex(encodePacket({ type: "event", code: EVT.LE_META, params: report }))).toBe(
      "043e0f" + "02" + "01" + "04" + "00" + "ffeeddccbbaa" + "03" + "020106" + "c9",
    );
  });

  it("decodes what it encodes, for every command, return and event layout, with values drawn from a seed", () => {
    const random = seededRandom("hci-codec");
    const value = (kind: string): FieldValue => {
      const b = random(64);
      switch (kind) {
        case "u8":
          return b[0]!;
        case "i8":
          return (b[0]! << 24) >> 24;
        case "u16":
          return b[0]! | (b[1]! << 8);
        case "addr":
          return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, "0")).join(":");
        case "bytes8":
          return b.slice(0, 8);
        case "bytes16":
          return b.slice(0, 16);
        case "bytes64":
          return b.slice(0, 64);
        case "adv31":
          return b.slice(0, b[0]! % 32);
        default:
          return b.slice(0, b[0]! % 40);
      }
    };
    const roundTrip = (schema: Schema<Fields>, what: string) => {
      for (let i = 0; i < 20; i++) {
        const v = Object.fromEntries(Object.entries(schema.fields).map(([k, kind]) => [k, value(kind)]));
        const bytes = schema.encode(v as never);
        expect(schema.decode(bytes, what)).toEqual(v);
        expect(toHex(schema.encode(schema.decode(bytes, what) as never))).toBe(toHex(bytes));
      }
    };
    let layouts = 0;
    for (const spec of Object.values(COMMANDS) as {
      name: string;
      params: Schema<Fields>;
      returns?: Schema<Fields>;
    }[]) {
      roundTrip(spec.params, spec.name);
      if (spec.returns !== undefined) roundTrip(spec.returns, `${spec.name} return`);
      layouts += spec.returns === undefined ? 1 : 2;
    }
    for (const spec of [...Object.values(EVENTS), ...Object.values(LE_EVENTS)])
      roundTrip(spec.params as unknown as Schema<Fields>, spec.name);
    expect(layouts).toBeGreaterThan(40);
    // and the typed entry points agree with the tables
    const p = decodeCommandParams(OP.LE_CONNECTION_UPDATE, hex("4000 0600 0c00 0000 2a00 0000 0000"));
    expect(p).toEqual({
      handle: 0x40,
      connIntervalMin: 6,
      connIntervalMax: 12,
      connLatency: 0,
      supervisionTimeout: 42,
      minCeLength: 0,
      maxCeLength: 0,
    });
    expect(decodeReturnParams(OP.READ_RSSI, hex("004000c9"))).toEqual({ status: 0, handle: 0x40, rssi: -55 });
    expect(decodeEventParams(EVT.DISCONNECTION_COMPLETE, hex("00400008"))).toEqual({
      status: 0,
      handle: 0x40,
      reason: 8,
    });
    const dl = { handle: 0x40, maxTxOctets: 251, maxTxTime: 2120, maxRxOctets: 27, maxRxTime: 328 };
    expect(decodeLeEventParams(LE_EVT.DATA_LENGTH_CHANGE, encodeLeEventParams(LE_EVT.DATA_LENGTH_CHANGE, dl))).toEqual(
      dl,
    );
    const counts = [
      { handle: 0x40, count: 3 },
      { handle: 0x41, count: 1 },
    ];
    expect(decodeHandleCounts(encodeHandleCounts(counts), "NOCP")).toEqual(counts);
    const reports = [
      { eventType: 0, addressType: 1, address: "c0:de:00:00:00:01", data: hex("0201060302aafe"), rssi: -90 },
      { eventType: 4, addressType: 0, address: "c0:de:00:00:00:02", data: new Uint8Array(0), rssi: 5 },
    ];
    expect(decodeAdvertisingReports(encodeAdvertisingReports(reports))).toEqual(reports);
  });

  it("decodes packets and rejects malformed ones with an error naming what is wrong", () => {
    expect(decodePacket(hex("01030c00"))).toEqual({ type: "command", opcode: OP.RESET, params: new Uint8Array(0) });
    expect(decodePacket(hex("0240200700030004000200" + "01"))).toEqual({
      type: "acl",
      handle: 0x40,
      pb: 0b10,
      bc: 0,
      data: hex("03000400020001"),
    });
    expect(decodePacket(hex("040e0401030c00"))).toMatchObject({ type: "event", code: EVT.COMMAND_COMPLETE });
    const bad: [string, RegExp][] = [
      ["", /empty packet/],
      ["05", /unknown H4 packet indicator 0x05/],
      ["01030c", /shorter than 4/],
      ["01030c01", /says 1 parameter octets but carries 0/],
      ["02400005000102", /says 5 data octets but carries 2/],
      ["040e05", /says 5 parameter octets but carries 0/],
    ];
    for (const [bytes, message] of bad) {
      expect(() => decodePacket(hex(bytes))).toThrow(HciCodecError);
      expect(() => decodePacket(hex(bytes))).toThrow(message);
    }
    expect(() => decodeCommandParams(OP.DISCONNECT, hex("4000"))).toThrow(/Disconnect: 2 parameter octets, expected 3/);
    expect(() => decodeCommandParams(OP.LE_SET_ADVERTISING_DATA, hex(`20${"00".repeat(31)}`))).toThrow(
      /length 32 is over 31/,
    );
    expect(() => addressToBytes("aa:bb:cc")).toThrow(/not a Bluetooth address/);
    expect(() => decodeHandleCounts(hex("0240000100"), "NOCP")).toThrow(/do not hold 2 handle\/count pairs/);
    expect(() => decodeAdvertisingReports(hex("020100000102030405061f"))).toThrow(/runs past the event/);
    // decoded fields never alias the caller's buffer (a Buffer's slice() is a view)
    const written = Buffer.from(hex("0108202003020106" + "00".repeat(28)));
    const decoded = decodePacket(written);
    written.fill(0xee);
    expect(toHex((decoded as { params: Uint8Array }).params.subarray(0, 4))).toBe("03020106");
  });

  it("splits an H4 byte stream into packets wherever the chunks break", () => {
    const packets = [
      hex("01030c00"),
      hex("040e0401030c00"),
      hex("0240200700030004000200" + "01"),
      hex("043e0f02010400ffeeddccbbaa03020106c9"),
    ];
    const stream = Buffer.concat(packets);
    for (let cut = 1; cut < stream.length; cut++) {
      const parser = new H4StreamParser();
      const got = [...parser.push(stream.subarray(0, cut)), ...parser.push(stream.subarray(cut))];
      expect(got.map(toHex)).toEqual(packets.map(toHex));
      expect(parser.buffered).toBe(0);
    }
    const oneByOne = new H4StreamParser();
    const got: Uint8Array[] = [];
    for (const byte of stream) got.push(...oneByOne.push(Uint8Array.of(byte)));
    expect(got).toHaveLength(packets.length);
    expect(() => new H4StreamParser().push(hex("7f0102"))).toThrow(/out of sync: 0x7f/);
  });

  it("applies a raw socket's hci_filter as the kernel does", () => {
    // noble's filter: commands, ACL data and events; Disconnect Complete, Encryption Change, Command Complete and
    // Status, Number Of Completed Packets; LE Meta
    const filter = parseHciFilter(hex("16000000" + "20c10800" + "00000040" + "0000" + "0000"));
    expect(hciFilterPasses(filter, hex("040e0401030c00"))).toBe(true);
    expect(hciFilterPasses(filter, hex("043e0101"))).toBe(true);
    expect(hciFilterPasses(filter, hex("02400000"))).toBe(true);
    expect(hciFilterPasses(filter, hex("041000"))).toBe(false); // Hardware Error: not in the mask
    expect(hciFilterPasses(filter, hex("03000000"))).toBe(false); // SCO: not in the type mask
    const onlyReset = parseHciFilter(hex("10000000" + "00c00000" + "00000000" + "030c"));
    expect(hciFilterPasses(onlyReset, hex("040e0401030c00"))).toBe(true);
    expect(hciFilterPasses(onlyReset, hex("040e0401010c00"))).toBe(false);
    expect(() => parseHciFilter(hex("1600"))).toThrow(/EINVAL/);
  });

  it("logs packets in btmon's manner", () => {
    expect(formatPacket(hex("01030c00"), "<")).toEqual(["< HCI Command: Reset (0x03|0x0003) plen 0"]);
    expect(formatPacket(hex("040e0401030c00"), ">")).toEqual([
      "> HCI Event: Command Complete (0x0e) plen 4",
      "      Reset (0x03|0x0003) ncmd 1",
      "        Status: Success (0x00)",
    ]);
    expect(formatPacket(hex("0106040340001" + "3"), "<")).toEqual([
      "< HCI Command: Disconnect (0x01|0x0006) plen 3",
      "        Handle: 64",
      "        Reason: Remote User Terminated Connection (0x13)",
    ]);
    expect(formatPacket(hex("01ff3f00"), "<")).toEqual(["< HCI Command: Unknown (0x0f|0x03ff) plen 0"]);
    expect(formatPacket(hex("01ff3f01aa"), "<")).toEqual(["< HCI Command: Unknown (0x0f|0x03ff) plen 1", "        aa"]);
    expect(formatPacket(hex("0240200700030004000200" + "01"), "<")).toEqual([
      "< ACL Data TX: Handle 64 flags 0x02 dlen 7",
      "      ATT: Exchange MTU Request (0x02) len 2",
      "        Client RX MTU: 256",
    ]);
    expect(formatPacket(hex("043e0f02010400ffeeddccbbaa03020106c9"), ">")).toEqual([
      "> HCI Event: LE Meta Event (0x3e) plen 15",
      "      LE Advertising Report (0x02)",
      "        Event type: SCAN_RSP (0x04)",
      "        Address: AA:BB:CC:DD:EE:FF (Public)",
      "        Data length: 3",
      "        Flags: 0x06",
      "        RSSI: -55 dBm (0xc9)",
    ]);
    expect(formatPacket(hex("0799"), ">")[0]).toMatch(/malformed packet: unknown H4 packet indicator 0x07/);
  });
});
