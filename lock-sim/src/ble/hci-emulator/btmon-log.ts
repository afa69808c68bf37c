import {
  commandSpec,
  decodeAdvertisingReports,
  decodeHandleCounts,
  decodePacket,
  EVENTS,
  EVT,
  type Fields,
  type FieldValue,
  HciCodecError,
  type HciPacket,
  LE_EVENTS,
  LE_EVT,
  opcodeText,
  type Schema,
  STATUS_TEXT,
} from "./hci-codec.js";

/**
 * HCI traffic as text in the manner of BlueZ's btmon: `<` host to controller, `>` controller to host, `=` a note
 * from the emulated link layer; each packet's fields decoded one per line below it. It exists for debugging: a test
 * that fails prints the log of the controllers involved, and `LATCHKEY_HCI_LOG=1` streams it to stderr.
 */
export type HciLogSink = (line: string) => void;

const ATT_OPCODES: Record<number, string> = {
  1: "Error Response",
  2: "Exchange MTU Request",
  3: "Exchange MTU Response",
  4: "Find Information Request",
  5: "Find Information Response",
  6: "Find By Type Value Request",
  7: "Find By Type Value Response",
  8: "Read By Type Request",
  9: "Read By Type Response",
  10: "Read Request",
  11: "Read Response",
  12: "Read Blob Request",
  13: "Read Blob Response",
  16: "Read By Group Type Request",
  17: "Read By Group Type Response",
  18: "Write Request",
  19: "Write Response",
  22: "Prepare Write Request",
  23: "Prepare Write Response",
  24: "Execute Write Request",
  25: "Execute Write Response",
  27: "Handle Value Notification",
  29: "Handle Value Indication",
  30: "Handle Value Confirmation",
  82: "Write Command",
};

const ACRONYMS: Record<string, string> = {
  le: "LE",
  hci: "HCI",
  lmp: "LMP",
  acl: "ACL",
  rssi: "RSSI",
  bd: "BD",
  ce: "CE",
  tx: "TX",
  rx: "RX",
  num: "Num",
};

/** "leScanInterval" → "LE scan interval". */
function label(name: string): string {
  const words = name.split(/(?=[A-Z])/).map((w) => w.toLowerCase());
  const text = words.map((w) => ACRONYMS[w] ?? w).join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const hex = (n: number, width = 2) => `0x${n.toString(16).padStart(width, "0")}`;
const hexBytes = (b: Uint8Array) => Buffer.from(b).toString("hex");

function fieldText(name: string, value: FieldValue): string {
  if (typeof value === "string") return `${label(name)}: ${value.toUpperCase()}`;
  if (value instanceof Uint8Array) return `${label(name)}: ${value.length === 0 ? "(none)" : hexBytes(value)}`;
  if (name === "status" || name === "reason")
    return `${label(name)}: ${STATUS_TEXT[value] ?? "Unknown"} (${hex(value)})`;
  if (name === "handle") return `Handle: ${value}`;
  if (name === "rssi") return `RSSI: ${value} dBm (${hex(value & 0xff)})`;
  if (/^connInterval/.test(name)) return `${label(name)}: ${(value * 1.25).toFixed(2)} msec (${hex(value, 4)})`;
  if (name === "supervisionTimeout") return `${label(name)}: ${value * 10} msec (${hex(value, 4)})`;
  if (/Interval|Window/.test(name)) return `${label(name)}: ${(value * 0.625).toFixed(3)} msec (${hex(value, 4)})`;
  return `${label(name)}: ${value} (${hex(value, value > 0xff ? 4 : 2)})`;
}

function fieldsText(schema: Schema<Fields>, params: Uint8Array, what: string, indent: string): string[] {
  try {
    const decoded = schema.decode(params, what) as Record<string, FieldValue>;
    return Object.entries(decoded).map(([k, v]) => `${indent}${fieldText(k, v)}`);
  } catch (e) {
    return [`${indent}(malformed: ${(e as Error).message}) ${hexBytes(params)}`];
  }
}

/** The AD structures of advertising data (Core Supplement Part A), the few kinds noble and bleno use. */
function advertisingDataText(data: Uint8Array, indent: string): string[] {
  const lines: string[] = [];
  let at = 0;
  while (at < data.length) {
    const length = data[at]!;
    if (length === 0) break;
    const type = data[at + 1];
    const body = data.subarray(at + 2, at + 1 + length);
    switch (type) {
      case 0x01:
        lines.push(`${indent}Flags: ${hex(body[0] ?? 0)}`);
        break;
      case 0x06:
      case 0x07:
        for (let i = 0; i + 16 <= body.length; i += 16)
          lines.push(`${indent}128-bit Service UUID: ${hexBytes(Uint8Array.from(body.subarray(i, i + 16)).reverse())}`);
        break;
      case 0x02:
      case 0x03:
        for (let i = 0; i + 2 <= body.length; i += 2)
          lines.push(`${indent}16-bit Service UUID: ${hex(body[i]! | (body[i + 1]! << 8), 4)}`);
        break;
      case 0x08:
      case 0x09:
        lines.push(`${indent}Name (${type === 0x08 ? "short" : "complete"}): ${Buffer.from(body).toString("utf8")}`);
        break;
      default:
        lines.push(`${indent}Type ${hex(type ?? 0)}: ${hexBytes(body)}`);
    }
    at += 1 + length;
  }
  return lines;
}

function commandLines(packet: Extract<HciPacket, { type: "command" }>): string[] {
  const spec = commandSpec(packet.opcode);
  const head = `< HCI Command: ${spec?.name ?? "Unknown"} (${opcodeText(packet.opcode)}) plen ${packet.params.length}`;
  if (spec === undefined) return packet.params.length === 0 ? [head] : [head, `        ${hexBytes(packet.params)}`];
  if (spec.name === "Host Number Of Completed Packets")
    return [head, ...handleCountLines(packet.params, spec.name, "        ")];
  return [head, ...fieldsText(spec.params, packet.params, spec.name, "        ")];
}

function handleCountLines(params: Uint8Array, what: string, indent: string): string[] {
  try {
    return decodeHandleCounts(params, what).map((e) => `${indent}Handle: ${e.handle} Count: ${e.count}`);
  } catch (e) {
    return [`${indent}(malformed: ${(e as Error).message})`];
  }
}

function eventLines(packet: Extract<HciPacket, { type: "event" }>): string[] {
  const indent = "        ";
  const spec = (EVENTS as unknown as Record<number, { name: string; params: Schema<Fields> }>)[packet.code];
  const name =
    spec?.name ??
    (packet.code === EVT.NUMBER_OF_COMPLETED_PACKETS
      ? "Number of Completed Packets"
      : packet.code === EVT.LE_META
        ? "LE Meta Event"
        : "Unknown");
  const head = `> HCI Event: ${name} (${hex(packet.code)}) plen ${packet.params.length}`;
  const p = packet.params;
  switch (packet.code) {
    case EVT.COMMAND_COMPLETE: {
      const opcode = (p[1] ?? 0) | ((p[2] ?? 0) << 8);
      const cmd = commandSpec(opcode);
      const lines = [head, `      ${cmd?.name ?? "Unknown"} (${opcodeText(opcode)}) ncmd ${p[0]}`];
      const returns = p.subarray(3);
      if (cmd?.returns !== undefined && returns.length === cmd.returns.size)
        return [...lines, ...fieldsText(cmd.returns, returns, `${cmd.name} return`, indent)];
      if (returns.length > 0) lines.push(`${indent}${fieldText("status", returns[0]!)}`);
      if (returns.length > 1) lines.push(`${indent}${hexBytes(returns.subarray(1))}`);
      return lines;
    }
    case EVT.COMMAND_STATUS: {
      const opcode = (p[2] ?? 0) | ((p[3] ?? 0) << 8);
      return [
        head,
        `      ${commandSpec(opcode)?.name ?? "Unknown"} (${opcodeText(opcode)}) ncmd ${p[1]}`,
        `${indent}${fieldText("status", p[0] ?? 0)}`,
      ];
    }
    case EVT.NUMBER_OF_COMPLETED_PACKETS:
      return [head, ...handleCountLines(p, name, indent)];
    case EVT.LE_META:
      return [head, ...leMetaLines(p, indent)];
    default:
      return spec === undefined
        ? [head, `${indent}${hexBytes(p)}`]
        : [head, ...fieldsText(spec.params, p, name, indent)];
  }
}

function leMetaLines(p: Uint8Array, indent: string): string[] {
  const sub = p[0] ?? 0;
  if (sub === LE_EVT.ADVERTISING_REPORT) {
    try {
      return [
        `      LE Advertising Report (${hex(sub)})`,
        ...decodeAdvertisingReports(p).flatMap((r) => [
          `${indent}Event type: ${["ADV_IND", "ADV_DIRECT_IND", "ADV_SCAN_IND", "ADV_NONCONN_IND", "SCAN_RSP"][r.eventType] ?? "Reserved"} (${hex(r.eventType)})`,
          `${indent}Address: ${r.address.toUpperCase()} (${r.addressType === 1 ? "Random" : "Public"})`,
          `${indent}Data length: ${r.data.length}`,
          ...advertisingDataText(r.data, indent),
          `${indent}RSSI: ${r.rssi} dBm (${hex(r.rssi & 0xff)})`,
        ]),
      ];
    } catch (e) {
      return [`      LE Advertising Report (malformed: ${(e as Error).message})`];
    }
  }
  const spec = (LE_EVENTS as unknown as Record<number, { name: string; params: Schema<Fields> }>)[sub];
  if (spec === undefined) return [`      Unknown LE subevent (${hex(sub)})`, `${indent}${hexBytes(p.subarray(1))}`];
  return [`      ${spec.name} (${hex(sub)})`, ...fieldsText(spec.params, p.subarray(1), spec.name, indent)];
}

function aclLines(packet: Extract<HciPacket, { type: "acl" }>, direction: "<" | ">"): string[] {
  const head = `${direction} ACL Data ${direction === "<" ? "TX" : "RX"}: Handle ${packet.handle} flags ${hex(packet.pb | (packet.bc << 2))} dlen ${packet.data.length}`;
  const d = packet.data;
  // A first fragment starts with the L2CAP basic header: length, channel id (Vol 3 Part A 3.1).
  if (packet.pb === 0b01 || d.length < 4) return [head];
  const cid = d[2]! | (d[3]! << 8);
  const l2len = d[0]! | (d[1]! << 8);
  if (cid === 0x0004 && d.length >= 5) {
    const op = d[4]!;
    const lines = [head, `      ATT: ${ATT_OPCODES[op] ?? "Unknown"} (${hex(op)}) len ${l2len - 1}`];
    if ((op === 0x02 || op === 0x03) && d.length >= 7)
      lines.push(`        ${op === 0x02 ? "Client" : "Server"} RX MTU: ${d[5]! | (d[6]! << 8)}`);
    else if ((op === 0x12 || op === 0x52 || op === 0x1b || op === 0x0a || op === 0x0b) && d.length >= 7)
      lines.push(
        op === 0x0b
          ? `        Value: ${hexBytes(d.subarray(5, 21))}`
          : `        Handle: ${hex(d[5]! | (d[6]! << 8), 4)}`,
      );
    return lines;
  }
  const channel = cid === 0x0005 ? "LE L2CAP Signaling" : cid === 0x0006 ? "SMP" : `L2CAP CID ${hex(cid, 4)}`;
  return [head, `      ${channel}: len ${l2len}`];
}

/** The btmon-style lines for one H4 packet crossing the host/controller boundary in `direction`. */
export function formatPacket(bytes: Uint8Array, direction: "<" | ">"): string[] {
  let packet: HciPacket;
  try {
    packet = decodePacket(bytes);
  } catch (e) {
    if (!(e instanceof HciCodecError)) throw e;
    return [`${direction} (malformed packet: ${e.message}) ${hexBytes(bytes)}`];
  }
  switch (packet.type) {
    case "command":
      return commandLines(packet);
    case "event":
      return eventLines(packet);
    case "acl":
      return aclLines(packet, direction);
  }
}

/** Collects log lines (and passes them on), so a test can print the log of a failing run. */
export class HciLog {
  readonly lines: string[] = [];

  constructor(
    private readonly forward: HciLogSink | null = process.env.LATCHKEY_HCI_LOG
      ? (line) => process.stderr.write(`${line}\n`)
      : null,
    private readonly max = 50_000,
  ) {}

  /** `max` lines are kept (0: none, only forwarded). */
  readonly sink: HciLogSink = (line) => {
    if (this.max > 0) {
      if (this.lines.length >= this.max) this.lines.shift();
      this.lines.push(line);
    }
    this.forward?.(line);
  };

  text(): string {
    return this.lines.join("\n");
  }
}
