/**
 * HCI packets as the Bluetooth Core specification (v5.4, Vol 4 Part E) lays them out: the UART/H4 packet indicator,
 * then a command (opcode, parameter length, parameters; 5.4.1), ACL data (handle + PB/BC flags, data length, data;
 * 5.4.2) or an event (code, parameter length, parameters; 5.4.4). This is the byte stream a Linux HCI socket carries,
 * so it is what noble and bleno write and read. The command and event parameter layouts below are the ones of
 * 7.1–7.8 for the commands noble and bleno send, plus the host flow control and LE data length commands.
 *
 * Multi-byte fields are little endian; a BD_ADDR is 6 bytes, least significant first, written here as noble writes it
 * ("aa:bb:cc:dd:ee:ff", most significant first).
 */

export class HciCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HciCodecError";
  }
}

/** H4 packet indicators (Vol 4 Part A 2). */
export const H4 = { COMMAND: 0x01, ACL: 0x02, SCO: 0x03, EVENT: 0x04 } as const;

export function opcodeOf(ogf: number, ocf: number): number {
  return ((ogf & 0x3f) << 10) | (ocf & 0x3ff);
}

/** "0x08|0x000b", the way btmon names an opcode. */
export function opcodeText(opcode: number): string {
  return `0x${(opcode >> 10).toString(16).padStart(2, "0")}|0x${(opcode & 0x3ff).toString(16).padStart(4, "0")}`;
}

/** Opcodes (OGF << 10 | OCF), as literals so the command table below is typed per command. */
export const OP = {
  DISCONNECT: 0x0406,
  SET_EVENT_MASK: 0x0c01,
  RESET: 0x0c03,
  SET_CONTROLLER_TO_HOST_FLOW_CONTROL: 0x0c31,
  HOST_BUFFER_SIZE: 0x0c33,
  HOST_NUMBER_OF_COMPLETED_PACKETS: 0x0c35,
  READ_LE_HOST_SUPPORTED: 0x0c6c,
  WRITE_LE_HOST_SUPPORTED: 0x0c6d,
  READ_LOCAL_VERSION: 0x1001,
  READ_LOCAL_SUPPORTED_COMMANDS: 0x1002,
  READ_LOCAL_SUPPORTED_FEATURES: 0x1003,
  READ_BUFFER_SIZE: 0x1005,
  READ_BD_ADDR: 0x1009,
  READ_RSSI: 0x1405,
  LE_SET_EVENT_MASK: 0x2001,
  LE_READ_BUFFER_SIZE: 0x2002,
  LE_READ_LOCAL_SUPPORTED_FEATURES: 0x2003,
  LE_SET_RANDOM_ADDRESS: 0x2005,
  LE_SET_ADVERTISING_PARAMETERS: 0x2006,
  LE_SET_ADVERTISING_DATA: 0x2008,
  LE_SET_SCAN_RESPONSE_DATA: 0x2009,
  LE_SET_ADVERTISING_ENABLE: 0x200a,
  LE_SET_SCAN_PARAMETERS: 0x200b,
  LE_SET_SCAN_ENABLE: 0x200c,
  LE_CREATE_CONNECTION: 0x200d,
  LE_CREATE_CONNECTION_CANCEL: 0x200e,
  LE_CONNECTION_UPDATE: 0x2013,
  LE_SET_DATA_LENGTH: 0x2022,
  LE_READ_SUGGESTED_DEFAULT_DATA_LENGTH: 0x2023,
  LE_WRITE_SUGGESTED_DEFAULT_DATA_LENGTH: 0x2024,
  LE_READ_MAXIMUM_DATA_LENGTH: 0x202f,
} as const;

export const EVT = {
  DISCONNECTION_COMPLETE: 0x05,
  ENCRYPTION_CHANGE: 0x08,
  COMMAND_COMPLETE: 0x0e,
  COMMAND_STATUS: 0x0f,
  HARDWARE_ERROR: 0x10,
  NUMBER_OF_COMPLETED_PACKETS: 0x13,
  DATA_BUFFER_OVERFLOW: 0x1a,
  LE_META: 0x3e,
} as const;

export const LE_EVT = {
  CONNECTION_COMPLETE: 0x01,
  ADVERTISING_REPORT: 0x02,
  CONNECTION_UPDATE_COMPLETE: 0x03,
  DATA_LENGTH_CHANGE: 0x07,
} as const;

/** Error codes (Vol 1 Part F 1.3) the emulator returns. */
export const STATUS = {
  SUCCESS: 0x00,
  UNKNOWN_HCI_COMMAND: 0x01,
  UNKNOWN_CONNECTION_IDENTIFIER: 0x02,
  MEMORY_CAPACITY_EXCEEDED: 0x07,
  CONNECTION_TIMEOUT: 0x08,
  CONNECTION_LIMIT_EXCEEDED: 0x09,
  CONNECTION_ALREADY_EXISTS: 0x0b,
  COMMAND_DISALLOWED: 0x0c,
  UNSUPPORTED_FEATURE_OR_PARAMETER: 0x11,
  INVALID_HCI_COMMAND_PARAMETERS: 0x12,
  REMOTE_USER_TERMINATED_CONNECTION: 0x13,
  CONNECTION_TERMINATED_BY_LOCAL_HOST: 0x16,
  UNSPECIFIED_ERROR: 0x1f,
} as const;

export const STATUS_TEXT: Record<number, string> = {
  0: "Success",
  1: "Unknown HCI Command",
  2: "Unknown Connection Identifier",
  7: "Memory Capacity Exceeded",
  8: "Connection Timeout",
  9: "Connection Limit Exceeded",
  11: "Connection Already Exists",
  12: "Command Disallowed",
  17: "Unsupported Feature or Parameter Value",
  18: "Invalid HCI Command Parameters",
  19: "Remote User Terminated Connection",
  22: "Connection Terminated By Local Host",
  31: "Unspecified Error",
  62: "Connection Failed to be Established",
};

// ---- field schemas -------------------------------------------------------------------------------------------------

/**
 * Field kinds of command and event parameters: integers (little endian), a BD_ADDR, fixed byte strings, the 31-octet
 * advertising data blocks (a length octet, then 31 octets zero padded: 7.8.7), and "rest" (every remaining octet).
 */
export type FieldKind = "u8" | "i8" | "u16" | "addr" | "bytes8" | "bytes16" | "bytes64" | "adv31" | "rest";
type Value<K extends FieldKind> = K extends "addr"
  ? string
  : K extends "bytes8" | "bytes16" | "bytes64" | "adv31" | "rest"
    ? Uint8Array
    : number;
export type Fields = Record<string, FieldKind>;
export type Decoded<S extends Fields> = { [K in keyof S]: Value<S[K]> };
export type FieldValue = number | string | Uint8Array;

const FIXED_SIZE: Record<FieldKind, number> = {
  u8: 1,
  i8: 1,
  u16: 2,
  addr: 6,
  bytes8: 8,
  bytes16: 16,
  bytes64: 64,
  adv31: 32,
  rest: 0,
};

/** "aa:bb:cc:dd:ee:ff" → the 6 octets of a BD_ADDR as sent (least significant first). */
export function addressToBytes(address: string): Uint8Array {
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(address))
    throw new HciCodecError(`"${address}" is not a Bluetooth address (aa:bb:cc:dd:ee:ff)`);
  return Uint8Array.from(address.split(":").reverse(), (h) => Number.parseInt(h, 16));
}

export function bytesToAddress(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 6))
    .reverse()
    .map((b) => b.toString(16).padStart(2, "0"))
    .join(":");
}

/** An ordered list of named fields: decodes parameters to a typed object and encodes it back. */
export class Schema<S extends Fields> {
  readonly size: number;
  readonly variable: boolean;

  constructor(readonly fields: S) {
    const kinds = Object.values(fields);
    this.variable = kinds.includes("rest");
    if (this.variable && kinds.at(-1) !== "rest") throw new Error("a rest field must come last");
    this.size = kinds.reduce((n, k) => n + FIXED_SIZE[k], 0);
  }

  decode(input: Uint8Array, what: string): Decoded<S> {
    const params = new Uint8Array(input); // fields are copies, never views of the caller's buffer

    if (this.variable ? params.length < this.size : params.length !== this.size)
      throw new HciCodecError(
        `${what}: ${params.length} parameter octets, expected ${this.variable ? "at least " : ""}${this.size}`,
      );
    const view = new DataView(params.buffer, params.byteOffset, params.byteLength);
    const out: Record<string, FieldValue> = {};
    let at = 0;
    for (const [name, kind] of Object.entries(this.fields)) {
      switch (kind) {
        case "u8":
          out[name] = view.getUint8(at);
          break;
        case "i8":
          out[name] = view.getInt8(at);
          break;
        case "u16":
          out[name] = view.getUint16(at, true);
          break;
        case "addr":
          out[name] = bytesToAddress(params.subarray(at, at + 6));
          break;
        case "adv31": {
          const length = params[at]!;
          if (length > 31) throw new HciCodecError(`${what}: ${name} length ${length} is over 31`);
          out[name] = params.slice(at + 1, at + 1 + length);
          break;
        }
        case "rest":
          out[name] = params.slice(at);
          break;
        default:
          out[name] = params.slice(at, at + FIXED_SIZE[kind]);
      }
      at += FIXED_SIZE[kind];
    }
    return out as Decoded<S>;
  }

  encode(value: Decoded<S>): Uint8Array {
    const record = value as Record<string, FieldValue>;
    const restLength = this.variable ? (record[Object.keys(this.fields).at(-1)!] as Uint8Array).length : 0;
    const out = new Uint8Array(this.size + restLength);
    const view = new DataView(out.buffer);
    let at = 0;
    for (const [name, kind] of Object.entries(this.fields)) {
      const v = record[name];
      if (v === undefined) throw new HciCodecError(`field ${name} is missing`);
      switch (kind) {
        case "u8":
          view.setUint8(at, v as number);
          break;
        case "i8":
          view.setInt8(at, v as number);
          break;
        case "u16":
          view.setUint16(at, v as number, true);
          break;
        case "addr":
          out.set(addressToBytes(v as string), at);
          break;
        case "adv31": {
          const data = v as Uint8Array;
          if (data.length > 31) throw new HciCodecError(`field ${name}: ${data.length} octets, at most 31`);
          out[at] = data.length;
          out.set(data, at + 1);
          break;
        }
        default: {
          const data = v as Uint8Array;
          const size = kind === "rest" ? data.length : FIXED_SIZE[kind];
          if (data.length !== size) throw new HciCodecError(`field ${name}: ${data.length} octets, expected ${size}`);
          out.set(data, at);
        }
      }
      at += kind === "rest" ? restLength : FIXED_SIZE[kind];
    }
    return out;
  }
}

const s = <S extends Fields>(fields: S) => new Schema(fields);
const NONE = s({});
const STATUS_ONLY = s({ status: "u8" });
/** What a Read command returns of a setting its Write command takes: status first, then the setting. */
const withStatus = <S extends Fields>(setting: Schema<S>) => s({ status: "u8" as const, ...setting.fields });

/** Settings the host both reads and writes. */
const LE_HOST_SUPPORTED = s({ leSupportedHost: "u8", simultaneousLeHost: "u8" });
const SUGGESTED_DATA_LENGTH = s({ suggestedMaxTxOctets: "u16", suggestedMaxTxTime: "u16" });

/** The connection parameters LE Create Connection and LE Connection Update share (7.8.12, 7.8.18). */
const CONNECTION_PARAMETERS = {
  connIntervalMin: "u16",
  connIntervalMax: "u16",
  connLatency: "u16",
  supervisionTimeout: "u16",
  minCeLength: "u16",
  maxCeLength: "u16",
} as const;

/**
 * Commands: parameters and, for those answered by Command Complete, the return parameters (status first). Commands
 * answered by Command Status carry `status: true`. Host Number Of Completed Packets has its own codec (an array).
 */
export const COMMANDS = {
  [OP.DISCONNECT]: { name: "Disconnect", params: s({ handle: "u16", reason: "u8" }), status: true },
  [OP.SET_EVENT_MASK]: { name: "Set Event Mask", params: s({ eventMask: "bytes8" }), returns: STATUS_ONLY },
  [OP.RESET]: { name: "Reset", params: NONE, returns: STATUS_ONLY },
  [OP.SET_CONTROLLER_TO_HOST_FLOW_CONTROL]: {
    name: "Set Controller To Host Flow Control",
    params: s({ flowControlEnable: "u8" }),
    returns: STATUS_ONLY,
  },
  [OP.HOST_BUFFER_SIZE]: {
    name: "Host Buffer Size",
    params: s({
      aclDataPacketLength: "u16",
      syncDataPacketLength: "u8",
      totalNumAclDataPackets: "u16",
      totalNumSyncDataPackets: "u16",
    }),
    returns: STATUS_ONLY,
  },
  [OP.READ_LE_HOST_SUPPORTED]: { name: "Read LE Host Supported", params: NONE, returns: withStatus(LE_HOST_SUPPORTED) },
  [OP.WRITE_LE_HOST_SUPPORTED]: { name: "Write LE Host Supported", params: LE_HOST_SUPPORTED, returns: STATUS_ONLY },
  [OP.READ_LOCAL_VERSION]: {
    name: "Read Local Version Information",
    params: NONE,
    returns: s({
      status: "u8",
      hciVersion: "u8",
      hciRevision: "u16",
      lmpVersion: "u8",
      manufacturerName: "u16",
      lmpSubversion: "u16",
    }),
  },
  [OP.READ_LOCAL_SUPPORTED_COMMANDS]: {
    name: "Read Local Supported Commands",
    params: NONE,
    returns: s({ status: "u8", supportedCommands: "bytes64" }),
  },
  [OP.READ_LOCAL_SUPPORTED_FEATURES]: {
    name: "Read Local Supported Features",
    params: NONE,
    returns: s({ status: "u8", lmpFeatures: "bytes8" }),
  },
  [OP.READ_BUFFER_SIZE]: {
    name: "Read Buffer Size",
    params: NONE,
    returns: s({
      status: "u8",
      aclDataPacketLength: "u16",
      syncDataPacketLength: "u8",
      totalNumAclDataPackets: "u16",
      totalNumSyncDataPackets: "u16",
    }),
  },
  [OP.READ_BD_ADDR]: { name: "Read BD ADDR", params: NONE, returns: s({ status: "u8", bdAddr: "addr" }) },
  [OP.READ_RSSI]: {
    name: "Read RSSI",
    params: s({ handle: "u16" }),
    returns: s({ status: "u8", handle: "u16", rssi: "i8" }),
  },
  [OP.LE_SET_EVENT_MASK]: { name: "LE Set Event Mask", params: s({ leEventMask: "bytes8" }), returns: STATUS_ONLY },
  [OP.LE_READ_BUFFER_SIZE]: {
    name: "LE Read Buffer Size",
    params: NONE,
    returns: s({ status: "u8", leAclDataPacketLength: "u16", totalNumLeAclDataPackets: "u8" }),
  },
  [OP.LE_READ_LOCAL_SUPPORTED_FEATURES]: {
    name: "LE Read Local Supported Features",
    params: NONE,
    returns: s({ status: "u8", leFeatures: "bytes8" }),
  },
  [OP.LE_SET_RANDOM_ADDRESS]: {
    name: "LE Set Random Address",
    params: s({ randomAddress: "addr" }),
    returns: STATUS_ONLY,
  },
  [OP.LE_SET_ADVERTISING_PARAMETERS]: {
    name: "LE Set Advertising Parameters",
    params: s({
      advertisingIntervalMin: "u16",
      advertisingIntervalMax: "u16",
      advertisingType: "u8",
      ownAddressType: "u8",
      peerAddressType: "u8",
      peerAddress: "addr",
      advertisingChannelMap: "u8",
      advertisingFilterPolicy: "u8",
    }),
    returns: STATUS_ONLY,
  },
  [OP.LE_SET_ADVERTISING_DATA]: {
    name: "LE Set Advertising Data",
    params: s({ advertisingData: "adv31" }),
    returns: STATUS_ONLY,
  },
  [OP.LE_SET_SCAN_RESPONSE_DATA]: {
    name: "LE Set Scan Response Data",
    params: s({ scanResponseData: "adv31" }),
    returns: STATUS_ONLY,
  },
  [OP.LE_SET_ADVERTISING_ENABLE]: {
    name: "LE Set Advertising Enable",
    params: s({ advertisingEnable: "u8" }),
    returns: STATUS_ONLY,
  },
  [OP.LE_SET_SCAN_PARAMETERS]: {
    name: "LE Set Scan Parameters",
    params: s({
      leScanType: "u8",
      leScanInterval: "u16",
      leScanWindow: "u16",
      ownAddressType: "u8",
      scanningFilterPolicy: "u8",
    }),
    returns: STATUS_ONLY,
  },
  [OP.LE_SET_SCAN_ENABLE]: {
    name: "LE Set Scan Enable",
    params: s({ leScanEnable: "u8", filterDuplicates: "u8" }),
    returns: STATUS_ONLY,
  },
  [OP.LE_CREATE_CONNECTION]: {
    name: "LE Create Connection",
    params: s({
      leScanInterval: "u16",
      leScanWindow: "u16",
      initiatorFilterPolicy: "u8",
      peerAddressType: "u8",
      peerAddress: "addr",
      ownAddressType: "u8",
      ...CONNECTION_PARAMETERS,
    }),
    status: true,
  },
  [OP.LE_CREATE_CONNECTION_CANCEL]: { name: "LE Create Connection Cancel", params: NONE, returns: STATUS_ONLY },
  [OP.LE_CONNECTION_UPDATE]: {
    name: "LE Connection Update",
    params: s({ handle: "u16", ...CONNECTION_PARAMETERS }),
    status: true,
  },
  [OP.LE_SET_DATA_LENGTH]: {
    name: "LE Set Data Length",
    params: s({ handle: "u16", txOctets: "u16", txTime: "u16" }),
    returns: s({ status: "u8", handle: "u16" }),
  },
  [OP.LE_READ_SUGGESTED_DEFAULT_DATA_LENGTH]: {
    name: "LE Read Suggested Default Data Length",
    params: NONE,
    returns: withStatus(SUGGESTED_DATA_LENGTH),
  },
  [OP.LE_WRITE_SUGGESTED_DEFAULT_DATA_LENGTH]: {
    name: "LE Write Suggested Default Data Length",
    params: SUGGESTED_DATA_LENGTH,
    returns: STATUS_ONLY,
  },
  [OP.LE_READ_MAXIMUM_DATA_LENGTH]: {
    name: "LE Read Maximum Data Length",
    params: NONE,
    returns: s({
      status: "u8",
      supportedMaxTxOctets: "u16",
      supportedMaxTxTime: "u16",
      supportedMaxRxOctets: "u16",
      supportedMaxRxTime: "u16",
    }),
  },
} as const;

export type CommandSpec = { name: string; params: Schema<Fields>; returns?: Schema<Fields>; status?: boolean };
const COMMAND_TABLE = COMMANDS as unknown as Record<number, CommandSpec>;

export function commandSpec(opcode: number): CommandSpec | undefined {
  return opcode === OP.HOST_NUMBER_OF_COMPLETED_PACKETS
    ? { name: "Host Number Of Completed Packets", params: s({ handles: "rest" }) }
    : COMMAND_TABLE[opcode];
}

/** Decodes a command's parameters by the layout of its opcode. */
export function decodeCommandParams<O extends keyof typeof COMMANDS>(
  opcode: O,
  params: Uint8Array,
): Decoded<(typeof COMMANDS)[O]["params"]["fields"]> {
  const spec = COMMAND_TABLE[opcode]!;
  return spec.params.decode(params, spec.name) as Decoded<(typeof COMMANDS)[O]["params"]["fields"]>;
}

export function encodeCommandParams<O extends keyof typeof COMMANDS>(
  opcode: O,
  value: Decoded<(typeof COMMANDS)[O]["params"]["fields"]>,
): Uint8Array {
  return COMMAND_TABLE[opcode]!.params.encode(value as Decoded<Fields>);
}

type Returns<O extends keyof typeof COMMANDS> = (typeof COMMANDS)[O] extends { returns: Schema<infer R> }
  ? Decoded<R>
  : never;

export function encodeReturnParams<O extends keyof typeof COMMANDS>(opcode: O, value: Returns<O>): Uint8Array {
  const returns = COMMAND_TABLE[opcode]!.returns;
  if (returns === undefined) throw new HciCodecError(`${COMMAND_TABLE[opcode]!.name} has no return parameters`);
  return returns.encode(value as Decoded<Fields>);
}

export function decodeReturnParams<O extends keyof typeof COMMANDS>(opcode: O, bytes: Uint8Array): Returns<O> {
  const spec = COMMAND_TABLE[opcode]!;
  if (spec.returns === undefined) throw new HciCodecError(`${spec.name} has no return parameters`);
  return spec.returns.decode(bytes, `${spec.name} return parameters`) as Returns<O>;
}

// ---- (handle, count) arrays: Number Of Completed Packets and Host Number Of Completed Packets ----------------------

export interface HandleCount {
  handle: number;
  count: number;
}

/**
 * Num_Handles, then each handle with its count. The specification prints these as two arrays; every controller and
 * host (BlueZ, noble, bleno) puts each handle next to its count, which is what the v5.x clarification of array
 * parameters (5.2) describes, so that is the layout here.
 */
export function encodeHandleCounts(entries: HandleCount[]): Uint8Array {
  if (entries.length > 255) throw new HciCodecError(`${entries.length} handles, at most 255`);
  const out = new Uint8Array(1 + entries.length * 4);
  const view = new DataView(out.buffer);
  out[0] = entries.length;
  entries.forEach((e, i) => {
    view.setUint16(1 + i * 4, e.handle, true);
    view.setUint16(3 + i * 4, e.count, true);
  });
  return out;
}

export function decodeHandleCounts(params: Uint8Array, what: string): HandleCount[] {
  params = new Uint8Array(params);
  const n = params[0];
  if (n === undefined || params.length !== 1 + n * 4)
    throw new HciCodecError(`${what}: ${params.length} parameter octets do not hold ${n ?? 0} handle/count pairs`);
  const view = new DataView(params.buffer, params.byteOffset, params.byteLength);
  return Array.from({ length: n }, (_, i) => ({
    handle: view.getUint16(1 + i * 4, true) & 0x0fff,
    count: view.getUint16(3 + i * 4, true),
  }));
}

/** An event: its name and parameter layout. */
const event = <S extends Fields>(name: string, fields: S) => ({ name, params: s(fields) });

// ---- events --------------------------------------------------------------------------------------------------------

export const EVENTS = {
  [EVT.DISCONNECTION_COMPLETE]: event("Disconnect Complete", { status: "u8", handle: "u16", reason: "u8" }),
  [EVT.ENCRYPTION_CHANGE]: event("Encryption Change", { status: "u8", handle: "u16", encryptionEnabled: "u8" }),
  [EVT.COMMAND_COMPLETE]: event("Command Complete", {
    numHciCommandPackets: "u8",
    opcode: "u16",
    returnParameters: "rest",
  }),
  [EVT.COMMAND_STATUS]: event("Command Status", { status: "u8", numHciCommandPackets: "u8", opcode: "u16" }),
  [EVT.HARDWARE_ERROR]: event("Hardware Error", { hardwareCode: "u8" }),
  [EVT.DATA_BUFFER_OVERFLOW]: event("Data Buffer Overflow", { linkType: "u8" }),
} as const;

export const LE_EVENTS = {
  [LE_EVT.CONNECTION_COMPLETE]: {
    name: "LE Connection Complete",
    params: s({
      status: "u8",
      handle: "u16",
      role: "u8",
      peerAddressType: "u8",
      peerAddress: "addr",
      connInterval: "u16",
      connLatency: "u16",
      supervisionTimeout: "u16",
      masterClockAccuracy: "u8",
    }),
  },
  [LE_EVT.CONNECTION_UPDATE_COMPLETE]: {
    name: "LE Connection Update Complete",
    params: s({ status: "u8", handle: "u16", connInterval: "u16", connLatency: "u16", supervisionTimeout: "u16" }),
  },
  [LE_EVT.DATA_LENGTH_CHANGE]: {
    name: "LE Data Length Change",
    params: s({ handle: "u16", maxTxOctets: "u16", maxTxTime: "u16", maxRxOctets: "u16", maxRxTime: "u16" }),
  },
} as const;

export type EventParams<C extends keyof typeof EVENTS> = Decoded<(typeof EVENTS)[C]["params"]["fields"]>;
export type LeEventParams<C extends keyof typeof LE_EVENTS> = Decoded<(typeof LE_EVENTS)[C]["params"]["fields"]>;

export function encodeEventParams<C extends keyof typeof EVENTS>(code: C, value: EventParams<C>): Uint8Array {
  return (EVENTS[code].params as unknown as Schema<Fields>).encode(value as Decoded<Fields>);
}

export function decodeEventParams<C extends keyof typeof EVENTS>(code: C, params: Uint8Array): EventParams<C> {
  return (EVENTS[code].params as unknown as Schema<Fields>).decode(params, EVENTS[code].name) as EventParams<C>;
}

/** LE Meta event parameters: the subevent code, then the subevent's parameters. */
export function encodeLeEventParams<C extends keyof typeof LE_EVENTS>(code: C, value: LeEventParams<C>): Uint8Array {
  const body = (LE_EVENTS[code].params as unknown as Schema<Fields>).encode(value as Decoded<Fields>);
  return Uint8Array.of(code, ...body);
}

export function decodeLeEventParams<C extends keyof typeof LE_EVENTS>(code: C, params: Uint8Array): LeEventParams<C> {
  if (params[0] !== code) throw new HciCodecError(`LE Meta subevent 0x${params[0]?.toString(16)} is not 0x${code}`);
  const spec = LE_EVENTS[code];
  return (spec.params as unknown as Schema<Fields>).decode(params.subarray(1), spec.name) as LeEventParams<C>;
}

export interface AdvertisingReport {
  /** 0 ADV_IND, 1 ADV_DIRECT_IND, 2 ADV_SCAN_IND, 3 ADV_NONCONN_IND, 4 SCAN_RSP (7.7.65.2). */
  eventType: number;
  addressType: number;
  address: string;
  data: Uint8Array;
  rssi: number;
}

/** LE Advertising Report (7.7.65.2): each report's fields together, as controllers send them (see encodeHandleCounts). */
export function encodeAdvertisingReports(reports: AdvertisingReport[]): Uint8Array {
  const parts: number[] = [LE_EVT.ADVERTISING_REPORT, reports.length];
  for (const r of reports) {
    if (r.data.length > 31) throw new HciCodecError(`advertising report data of ${r.data.length} octets, at most 31`);
    parts.push(r.eventType, r.addressType, ...addressToBytes(r.address), r.data.length, ...r.data, r.rssi & 0xff);
  }
  return Uint8Array.from(parts);
}

export function decodeAdvertisingReports(input: Uint8Array): AdvertisingReport[] {
  const params = new Uint8Array(input);
  if (params[0] !== LE_EVT.ADVERTISING_REPORT) throw new HciCodecError("not an LE Advertising Report");
  const n = params[1] ?? 0;
  const reports: AdvertisingReport[] = [];
  let at = 2;
  for (let i = 0; i < n; i++) {
    if (at + 9 > params.length) throw new HciCodecError(`LE Advertising Report ${i + 1} of ${n} is cut short`);
    const length = params[at + 8]!;
    if (length > 31 || at + 10 + length > params.length)
      throw new HciCodecError(`LE Advertising Report ${i + 1} of ${n}: data length ${length} runs past the event`);
    reports.push({
      eventType: params[at]!,
      addressType: params[at + 1]!,
      address: bytesToAddress(params.subarray(at + 2, at + 8)),
      data: params.slice(at + 9, at + 9 + length),
      rssi: (params[at + 9 + length]! << 24) >> 24,
    });
    at += 10 + length;
  }
  if (at !== params.length) throw new HciCodecError(`LE Advertising Report: ${params.length - at} octets left over`);
  return reports;
}

// ---- packets -------------------------------------------------------------------------------------------------------

export type HciPacket =
  | { type: "command"; opcode: number; params: Uint8Array }
  /** pb: packet boundary flag (0b00 first non-flushable, 0b01 continuation, 0b10 first flushable); bc: broadcast. */
  | { type: "acl"; handle: number; pb: number; bc: number; data: Uint8Array }
  | { type: "event"; code: number; params: Uint8Array };

export const PB = { FIRST_NON_FLUSHABLE: 0b00, CONTINUATION: 0b01, FIRST_FLUSHABLE: 0b10 } as const;

/** One whole H4 packet (indicator first), as a raw HCI socket reads and writes it. */
export function decodePacket(input: Uint8Array): HciPacket {
  // A copy in a plain Uint8Array: a Buffer's slice() is a view, and decoded fields must not alias the host's buffer.
  const bytes = new Uint8Array(input);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (bytes[0]) {
    case H4.COMMAND: {
      if (bytes.length < 4) throw new HciCodecError(`command packet of ${bytes.length} octets is shorter than 4`);
      const length = bytes[3]!;
      if (bytes.length !== 4 + length)
        throw new HciCodecError(`command packet says ${length} parameter octets but carries ${bytes.length - 4}`);
      return { type: "command", opcode: view.getUint16(1, true), params: bytes.slice(4) };
    }
    case H4.ACL: {
      if (bytes.length < 5) throw new HciCodecError(`ACL packet of ${bytes.length} octets is shorter than 5`);
      const header = view.getUint16(1, true);
      const length = view.getUint16(3, true);
      if (bytes.length !== 5 + length)
        throw new HciCodecError(`ACL packet says ${length} data octets but carries ${bytes.length - 5}`);
      return {
        type: "acl",
        handle: header & 0x0fff,
        pb: (header >> 12) & 0b11,
        bc: header >> 14,
        data: bytes.slice(5),
      };
    }
    case H4.EVENT: {
      if (bytes.length < 3) throw new HciCodecError(`event packet of ${bytes.length} octets is shorter than 3`);
      const length = bytes[2]!;
      if (bytes.length !== 3 + length)
        throw new HciCodecError(`event packet says ${length} parameter octets but carries ${bytes.length - 3}`);
      return { type: "event", code: bytes[1]!, params: bytes.slice(3) };
    }
    case undefined:
      throw new HciCodecError("empty packet");
    default:
      throw new HciCodecError(`unknown H4 packet indicator 0x${bytes[0]!.toString(16).padStart(2, "0")}`);
  }
}

export function encodePacket(packet: HciPacket): Buffer {
  switch (packet.type) {
    case "command": {
      if (packet.params.length > 255) throw new HciCodecError(`${packet.params.length} command parameter octets`);
      const out = Buffer.alloc(4 + packet.params.length);
      out[0] = H4.COMMAND;
      out.writeUInt16LE(packet.opcode, 1);
      out[3] = packet.params.length;
      out.set(packet.params, 4);
      return out;
    }
    case "acl": {
      if (packet.data.length > 0xffff) throw new HciCodecError(`${packet.data.length} ACL data octets`);
      if (packet.handle > 0x0eff) throw new HciCodecError(`connection handle 0x${packet.handle.toString(16)}`);
      const out = Buffer.alloc(5 + packet.data.length);
      out[0] = H4.ACL;
      out.writeUInt16LE(packet.handle | ((packet.pb & 0b11) << 12) | ((packet.bc & 0b11) << 14), 1);
      out.writeUInt16LE(packet.data.length, 3);
      out.set(packet.data, 5);
      return out;
    }
    case "event": {
      if (packet.params.length > 255) throw new HciCodecError(`${packet.params.length} event parameter octets`);
      const out = Buffer.alloc(3 + packet.params.length);
      out[0] = H4.EVENT;
      out[1] = packet.code;
      out[2] = packet.params.length;
      out.set(packet.params, 3);
      return out;
    }
  }
}

/** A command packet from its opcode and typed parameters. */
export function command<O extends keyof typeof COMMANDS>(
  opcode: O,
  value: Decoded<(typeof COMMANDS)[O]["params"]["fields"]>,
): Buffer {
  return encodePacket({ type: "command", opcode, params: encodeCommandParams(opcode, value) });
}

/**
 * Splits a byte stream (H4 over a UART, a TCP socket) into whole packets: the headers say how long each one is
 * (Vol 4 Part A). Bytes that start no known packet type are an error: the stream has lost its framing.
 */
export class H4StreamParser {
  private pending = new Uint8Array(0);

  /** Adds bytes; returns every packet they complete. */
  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.pending.length + chunk.length);
    joined.set(this.pending);
    joined.set(chunk, this.pending.length);
    const packets: Uint8Array[] = [];
    let at = 0;
    for (;;) {
      const size = packetSize(joined, at);
      if (size === null || at + size > joined.length) break;
      packets.push(joined.slice(at, at + size));
      at += size;
    }
    this.pending = joined.slice(at);
    return packets;
  }

  get buffered(): number {
    return this.pending.length;
  }
}

function packetSize(bytes: Uint8Array, at: number): number | null {
  const left = bytes.length - at;
  if (left < 1) return null;
  switch (bytes[at]) {
    case H4.COMMAND:
      return left < 4 ? null : 4 + bytes[at + 3]!;
    case H4.ACL:
      return left < 5 ? null : 5 + (bytes[at + 3]! | (bytes[at + 4]! << 8));
    case H4.SCO:
      return left < 4 ? null : 4 + bytes[at + 3]!;
    case H4.EVENT:
      return left < 3 ? null : 3 + bytes[at + 2]!;
    default:
      throw new HciCodecError(
        `H4 stream out of sync: 0x${bytes[at]!.toString(16).padStart(2, "0")} is no packet indicator`,
      );
  }
}
