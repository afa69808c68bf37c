import { EventEmitter } from "node:events";
import {
  type AdvertisementSeen,
  type AdvertisingState,
  type Air,
  type AirLink,
  type AirStation,
  type InitiatingState,
  type LinkParameters,
  LLID,
  type ScanningState,
} from "./air.js";
import { formatPacket, type HciLogSink } from "./btmon-log.js";
import {
  type COMMANDS,
  commandSpec,
  decodeCommandParams,
  decodeHandleCounts,
  decodePacket,
  EVT,
  encodeAdvertisingReports,
  encodeEventParams,
  encodeLeEventParams,
  encodePacket,
  encodeReturnParams,
  HciCodecError,
  type HciPacket,
  LE_EVT,
  OP,
  opcodeText,
  PB,
  STATUS,
} from "./hci-codec.js";

/**
 * One emulated Bluetooth LE controller: the HCI commands noble and bleno send, answered per Core Vol 4 Part E 7, and
 * the link layer behind them on an `Air`. Hosts write H4 packets with `write` and read them from the "packet" event,
 * which is what an HCI socket carries (see hci-socket.ts). Every packet both ways goes to the btmon-like log.
 *
 * Command flow control: each Command Complete/Status gives the host one credit (Num_HCI_Command_Packets = 1); a raw
 * socket's kernel queue keeps hosts within it, so commands are handled in order as they arrive.
 */
export interface ControllerOptions {
  /** Public device address, "aa:bb:cc:dd:ee:ff". */
  address: string;
  /** Name in logs and on the air (default "hci-" + address). */
  name?: string;
  /**
   * LE ACL data buffers (LE Read Buffer Size): the longest ACL data packet the host may write and how many may be
   * in the controller at once. "shared": LE Read Buffer Size answers 0 and the host uses Read Buffer Size (7.8.2).
   * Default 251 octets × 8.
   */
  leBuffer?: { length: number; count: number } | "shared";
  /** Largest LL data PDU payload (27 without the data length extension; default 251). */
  maxDataLength?: number;
  /** LL payload octets sent per PDU on a new connection until the host says otherwise (default 27, as after reset). */
  defaultDataLength?: number;
  log?: HciLogSink;
}

const DEFAULT_EVENT_MASK = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00, 0x00);
const DEFAULT_LE_EVENT_MASK = Uint8Array.of(0x1f, 0, 0, 0, 0, 0, 0, 0);
/** Valid Disconnect reasons (7.1.6). */
const DISCONNECT_REASONS = new Set([0x05, 0x13, 0x14, 0x15, 0x1a, 0x29, 0x3b]);

/** Read Local Supported Commands (6.27): [octet, bit] of every command this controller implements. */
const SUPPORTED_COMMANDS: [number, number][] = [
  [0, 5], // Disconnect
  [5, 6], // Set Event Mask
  [5, 7], // Reset
  [10, 5], // Set Controller To Host Flow Control
  [10, 6], // Host Buffer Size
  [10, 7], // Host Number Of Completed Packets
  [14, 3], // Read Local Version Information
  [14, 5], // Read Local Supported Features
  [14, 7], // Read Buffer Size
  [15, 1], // Read BD_ADDR
  [15, 5], // Read RSSI
  [24, 5], // Read LE Host Supported
  [24, 6], // Write LE Host Supported
  [25, 0], // LE Set Event Mask
  [25, 1], // LE Read Buffer Size
  [25, 2], // LE Read Local Supported Features
  [25, 4], // LE Set Random Address
  [25, 5], // LE Set Advertising Parameters
  [25, 7], // LE Set Advertising Data
  [26, 0], // LE Set Scan Response Data
  [26, 1], // LE Set Advertising Enable
  [26, 2], // LE Set Scan Parameters
  [26, 3], // LE Set Scan Enable
  [26, 4], // LE Create Connection
  [26, 5], // LE Create Connection Cancel
  [27, 2], // LE Connection Update
  [33, 6], // LE Set Data Length
  [33, 7], // LE Read Suggested Default Data Length
  [34, 0], // LE Write Suggested Default Data Length
  [35, 3], // LE Read Maximum Data Length
];

interface Connection {
  handle: number;
  link: AirLink;
  role: "central" | "peripheral";
  /** Host ACL packets in the controller, not yet acknowledged by the peer. */
  unacknowledged: number;
  /** ACL packets sent to the host and not yet returned by Host Number Of Completed Packets (host flow control). */
  atHost: number;
  terminating: boolean;
}

interface AdvertisingParameters {
  intervalMin: number;
  type: number;
  ownAddressType: number;
}

/** LE 1M PHY air time of a PDU with `octets` payload octets, in µs (Vol 6 Part B 4.5.10). */
const airTime = (octets: number) => (octets + 14) * 8;

export class EmulatedController extends EventEmitter implements AirStation {
  readonly address: string;
  readonly name: string;
  readonly maxDataLength: number;
  private readonly leBuffer: { length: number; count: number };
  private readonly sharedBuffers: boolean;
  private readonly log: HciLogSink | null;
  private up = true;

  private eventMask: Uint8Array = DEFAULT_EVENT_MASK.slice();
  private leEventMask: Uint8Array = DEFAULT_LE_EVENT_MASK.slice();
  private leHost = { leSupportedHost: 0, simultaneousLeHost: 0 };
  private randomAddress: string | null = null;
  private suggestedDataLength: number;
  private readonly initialDataLength: number;
  private advParams: AdvertisingParameters = { intervalMin: 0x0800, type: 0, ownAddressType: 0 };
  private advData: Uint8Array = new Uint8Array(0);
  private scanResponseData: Uint8Array = new Uint8Array(0);
  private advertisingOn = false;
  private scanParams = { type: 0, ownAddressType: 0 };
  private scanningOn: { active: boolean; filterDuplicates: boolean; seen: Set<string> } | null = null;
  private initiatingState: InitiatingState | null = null;
  private readonly connections = new Map<number, Connection>();
  private readonly byLink = new Map<AirLink, Connection>();
  private nextHandle = 0x0040;
  private hostPackets = 0;
  private hostFlowControl = false;
  private hostBuffer = { aclDataPacketLength: 0, totalNumAclDataPackets: 0 };
  private readonly heldForHost: { handle: number; packet: Buffer }[] = [];
  private readonly outbox: Buffer[] = [];
  private flushScheduled = false;

  constructor(
    readonly air: Air,
    options: ControllerOptions,
  ) {
    super();
    this.address = options.address.toLowerCase();
    this.name = options.name ?? `hci-${this.address}`;
    const buffer = options.leBuffer ?? { length: 251, count: 8 };
    this.sharedBuffers = buffer === "shared";
    this.leBuffer = buffer === "shared" ? { length: 251, count: 8 } : buffer;
    if (!(this.leBuffer.length >= 27 && this.leBuffer.length <= 0xffff && this.leBuffer.count >= 1))
      throw new RangeError(`LE buffer ${this.leBuffer.length} × ${this.leBuffer.count} is not usable`);
    this.maxDataLength = options.maxDataLength ?? 251;
    if (!(this.maxDataLength >= 27 && this.maxDataLength <= 251))
      throw new RangeError(`maxDataLength ${this.maxDataLength} is outside 27..251`);
    this.initialDataLength = Math.min(options.defaultDataLength ?? 27, this.maxDataLength);
    this.suggestedDataLength = this.initialDataLength;
    this.log = options.log ?? null;
    air.join(this);
  }

  // ---- the host side -----------------------------------------------------------------------------------------------

  /** Whether the controller is up (`hciconfig up`); a down controller takes no packets. */
  get isUp(): boolean {
    return this.up;
  }

  /** Powers the controller off (true) or on; either way it comes back as after Reset. */
  setUp(up: boolean): void {
    if (up === this.up) return;
    this.note(up ? "powered on" : "powered off");
    this.resetState();
    this.up = up;
    if (up) this.air.join(this);
    else this.air.leave(this);
  }

  /** Detaches from the air for good (the adapter was unplugged). */
  close(): void {
    this.resetState();
    this.up = false;
    this.air.leave(this);
    this.removeAllListeners();
  }

  /** One H4 packet from a host; `origin` is the socket that wrote it (other raw sockets see its commands). */
  write(bytes: Uint8Array, origin?: unknown): void {
    if (!this.up) {
      this.note(`dropped a ${bytes.length}-octet packet: the controller is down`);
      return;
    }
    this.logPacket(bytes, "<");
    let packet: HciPacket;
    try {
      packet = decodePacket(bytes);
    } catch (e) {
      if (!(e instanceof HciCodecError)) throw e;
      this.note(`dropped a malformed packet from the host: ${e.message}`);
      return;
    }
    switch (packet.type) {
      case "command":
        this.emit("command", Buffer.from(bytes), origin);
        this.command(packet.opcode, packet.params);
        return;
      case "acl":
        this.aclFromHost(packet);
        return;
      case "event":
        this.note("dropped an event packet written by the host");
    }
  }

  // ---- commands ----------------------------------------------------------------------------------------------------

  private command(opcode: number, params: Uint8Array): void {
    const spec = commandSpec(opcode);
    if (spec === undefined) {
      this.note(`unknown command ${opcodeText(opcode)}: answered Unknown HCI Command (0x01)`);
      this.complete(opcode, Uint8Array.of(STATUS.UNKNOWN_HCI_COMMAND));
      return;
    }
    try {
      spec.params.decode(params, spec.name);
    } catch (e) {
      if (!(e instanceof HciCodecError)) throw e;
      this.note(`${spec.name}: ${e.message}`);
      this.fail(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
      return;
    }
    this.dispatch(opcode, params);
  }

  /** Answers a command that failed with `status`: Command Status or Command Complete, as the command is answered. */
  private fail(opcode: number, status: number): void {
    const spec = commandSpec(opcode);
    if (spec?.status === true) this.commandStatus(opcode, status);
    else if (spec?.returns !== undefined && spec.returns.size > 1) {
      // Return parameters after the status keep their size; a handle echoes the one asked about.
      const out = new Uint8Array(spec.returns.size);
      out[0] = status;
      this.complete(opcode, out);
    } else this.complete(opcode, Uint8Array.of(status));
  }

  private dispatch(opcode: number, params: Uint8Array) {
    const ok = STATUS.SUCCESS;
    switch (opcode) {
      case OP.DISCONNECT: {
        const p = decodeCommandParams(OP.DISCONNECT, params);
        const conn = this.connections.get(p.handle);
        if (conn === undefined) return this.commandStatus(opcode, STATUS.UNKNOWN_CONNECTION_IDENTIFIER);
        if (!DISCONNECT_REASONS.has(p.reason)) return this.commandStatus(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        if (conn.terminating) return this.commandStatus(opcode, STATUS.COMMAND_DISALLOWED);
        conn.terminating = true;
        this.commandStatus(opcode, ok);
        this.air.terminate(conn.link, this, p.reason);
        return;
      }
      case OP.SET_EVENT_MASK:
        this.eventMask = decodeCommandParams(OP.SET_EVENT_MASK, params).eventMask;
        return this.completeOk(opcode);
      case OP.RESET:
        this.air.abandon(this);
        this.resetState();
        return this.completeOk(opcode);
      case OP.SET_CONTROLLER_TO_HOST_FLOW_CONTROL: {
        const { flowControlEnable } = decodeCommandParams(OP.SET_CONTROLLER_TO_HOST_FLOW_CONTROL, params);
        if (flowControlEnable > 3) return this.fail(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        if (this.connections.size > 0) return this.fail(opcode, STATUS.COMMAND_DISALLOWED);
        // 0x01 and 0x03 turn it on for ACL data; synchronous data is not emulated.
        this.hostFlowControl = (flowControlEnable & 0x01) === 0x01;
        return this.completeOk(opcode);
      }
      case OP.HOST_BUFFER_SIZE: {
        const p = decodeCommandParams(OP.HOST_BUFFER_SIZE, params);
        if (p.aclDataPacketLength === 0 || p.totalNumAclDataPackets === 0)
          return this.fail(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        this.hostBuffer = {
          aclDataPacketLength: p.aclDataPacketLength,
          totalNumAclDataPackets: p.totalNumAclDataPackets,
        };
        return this.completeOk(opcode);
      }
      case OP.HOST_NUMBER_OF_COMPLETED_PACKETS: {
        // No event answers this command unless it is wrong (7.3.40).
        let entries: { handle: number; count: number }[];
        try {
          entries = decodeHandleCounts(params, "Host Number Of Completed Packets");
        } catch (e) {
          this.note((e as Error).message);
          return this.fail(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        }
        for (const { handle, count } of entries) {
          const conn = this.connections.get(handle);
          if (conn !== undefined) conn.atHost = Math.max(0, conn.atHost - count);
        }
        this.releaseToHost();
        return;
      }
      case OP.READ_LE_HOST_SUPPORTED:
        return this.completeWith(OP.READ_LE_HOST_SUPPORTED, { status: ok, ...this.leHost });
      case OP.WRITE_LE_HOST_SUPPORTED:
        this.leHost = decodeCommandParams(OP.WRITE_LE_HOST_SUPPORTED, params);
        return this.completeOk(opcode);
      case OP.READ_LOCAL_VERSION:
        // Core 5.0, manufacturer 0x05F1 (The Linux Foundation). noble and bleno need HCI version ≥ 0x06 (4.0).
        return this.completeWith(OP.READ_LOCAL_VERSION, {
          status: ok,
          hciVersion: 0x09,
          hciRevision: 0x0000,
          lmpVersion: 0x09,
          manufacturerName: 0x05f1,
          lmpSubversion: 0x0000,
        });
      case OP.READ_LOCAL_SUPPORTED_COMMANDS: {
        const supportedCommands = new Uint8Array(64);
        for (const [octet, bit] of SUPPORTED_COMMANDS) supportedCommands[octet]! |= 1 << bit;
        return this.completeWith(OP.READ_LOCAL_SUPPORTED_COMMANDS, { status: ok, supportedCommands });
      }
      case OP.READ_LOCAL_SUPPORTED_FEATURES:
        // Octet 4: bit 5 BR/EDR Not Supported, bit 6 LE Supported (Controller): an LE-only controller.
        return this.completeWith(OP.READ_LOCAL_SUPPORTED_FEATURES, {
          status: ok,
          lmpFeatures: Uint8Array.of(0, 0, 0, 0, 0x60, 0, 0, 0),
        });
      case OP.READ_BUFFER_SIZE:
        return this.completeWith(OP.READ_BUFFER_SIZE, {
          status: ok,
          aclDataPacketLength: this.sharedBuffers ? this.leBuffer.length : 0,
          syncDataPacketLength: 0,
          totalNumAclDataPackets: this.sharedBuffers ? this.leBuffer.count : 0,
          totalNumSyncDataPackets: 0,
        });
      case OP.READ_BD_ADDR:
        return this.completeWith(OP.READ_BD_ADDR, { status: ok, bdAddr: this.address });
      case OP.READ_RSSI: {
        const { handle } = decodeCommandParams(OP.READ_RSSI, params);
        const conn = this.connections.get(handle);
        if (conn === undefined)
          return this.completeWith(OP.READ_RSSI, { status: STATUS.UNKNOWN_CONNECTION_IDENTIFIER, handle, rssi: 0 });
        return this.completeWith(OP.READ_RSSI, {
          status: ok,
          handle,
          rssi: this.air.rssi(this, conn.link.peerOf(this)),
        });
      }
      case OP.LE_SET_EVENT_MASK:
        this.leEventMask = decodeCommandParams(OP.LE_SET_EVENT_MASK, params).leEventMask;
        return this.completeOk(opcode);
      case OP.LE_READ_BUFFER_SIZE:
        return this.completeWith(OP.LE_READ_BUFFER_SIZE, {
          status: ok,
          leAclDataPacketLength: this.sharedBuffers ? 0 : this.leBuffer.length,
          totalNumLeAclDataPackets: this.sharedBuffers ? 0 : this.leBuffer.count,
        });
      case OP.LE_READ_LOCAL_SUPPORTED_FEATURES:
        // Bit 5: LE Data Packet Length Extension.
        return this.completeWith(OP.LE_READ_LOCAL_SUPPORTED_FEATURES, {
          status: ok,
          leFeatures: Uint8Array.of(this.maxDataLength > 27 ? 0x20 : 0, 0, 0, 0, 0, 0, 0, 0),
        });
      case OP.LE_SET_RANDOM_ADDRESS:
        if (this.advertisingOn || this.scanningOn !== null || this.initiatingState !== null)
          return this.fail(opcode, STATUS.COMMAND_DISALLOWED);
        this.randomAddress = decodeCommandParams(OP.LE_SET_RANDOM_ADDRESS, params).randomAddress;
        return this.completeOk(opcode);
      case OP.LE_SET_ADVERTISING_PARAMETERS: {
        const p = decodeCommandParams(OP.LE_SET_ADVERTISING_PARAMETERS, params);
        if (this.advertisingOn) return this.fail(opcode, STATUS.COMMAND_DISALLOWED);
        const directedHighDuty = p.advertisingType === 0x01;
        if (
          p.advertisingType > 0x04 ||
          p.ownAddressType > 0x03 ||
          (p.advertisingChannelMap & 0x07) === 0 ||
          (!directedHighDuty &&
            (p.advertisingIntervalMin > p.advertisingIntervalMax ||
              p.advertisingIntervalMin < 0x0020 ||
              p.advertisingIntervalMax > 0x4000))
        )
          return this.fail(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        this.advParams = {
          intervalMin: p.advertisingIntervalMin,
          type: p.advertisingType,
          ownAddressType: p.ownAddressType,
        };
        return this.completeOk(opcode);
      }
      case OP.LE_SET_ADVERTISING_DATA:
        this.advData = decodeCommandParams(OP.LE_SET_ADVERTISING_DATA, params).advertisingData;
        if (this.advertisingOn) this.air.advertisingChanged(this);
        return this.completeOk(opcode);
      case OP.LE_SET_SCAN_RESPONSE_DATA:
        this.scanResponseData = decodeCommandParams(OP.LE_SET_SCAN_RESPONSE_DATA, params).scanResponseData;
        if (this.advertisingOn) this.air.advertisingChanged(this);
        return this.completeOk(opcode);
      case OP.LE_SET_ADVERTISING_ENABLE: {
        const { advertisingEnable } = decodeCommandParams(OP.LE_SET_ADVERTISING_ENABLE, params);
        if (advertisingEnable > 1) return this.fail(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        if (advertisingEnable === 1 && this.advParams.ownAddressType === 1 && this.randomAddress === null)
          return this.fail(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        // Enabling when on and disabling when off succeed (Core 5.x, 7.8.9).
        this.advertisingOn = advertisingEnable === 1;
        this.completeOk(opcode);
        this.air.advertisingChanged(this);
        return;
      }
      case OP.LE_SET_SCAN_PARAMETERS: {
        const p = decodeCommandParams(OP.LE_SET_SCAN_PARAMETERS, params);
        if (this.scanningOn !== null) return this.fail(opcode, STATUS.COMMAND_DISALLOWED);
        if (
          p.leScanType > 1 ||
          p.leScanInterval < 0x0004 ||
          p.leScanInterval > 0x4000 ||
          p.leScanWindow < 0x0004 ||
          p.leScanWindow > p.leScanInterval ||
          p.ownAddressType > 0x03 ||
          p.scanningFilterPolicy > 0x03
        )
          return this.fail(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        this.scanParams = { type: p.leScanType, ownAddressType: p.ownAddressType };
        return this.completeOk(opcode);
      }
      case OP.LE_SET_SCAN_ENABLE: {
        const p = decodeCommandParams(OP.LE_SET_SCAN_ENABLE, params);
        if (p.leScanEnable > 1 || p.filterDuplicates > 1)
          return this.fail(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        const wasOn = this.scanningOn !== null;
        if (p.leScanEnable === 1) {
          // Enabling again only changes duplicate filtering; the filter starts empty at each enable (7.8.11).
          this.scanningOn = {
            active: this.scanParams.type === 1,
            filterDuplicates: p.filterDuplicates === 1,
            seen: wasOn ? (this.scanningOn?.seen ?? new Set()) : new Set(),
          };
        } else this.scanningOn = null;
        this.completeOk(opcode);
        if (!wasOn && this.scanningOn !== null) this.air.scanningChanged(this);
        return;
      }
      case OP.LE_CREATE_CONNECTION: {
        const p = decodeCommandParams(OP.LE_CREATE_CONNECTION, params);
        if (this.initiatingState !== null) return this.commandStatus(opcode, STATUS.COMMAND_DISALLOWED);
        if (p.initiatorFilterPolicy !== 0) return this.commandStatus(opcode, STATUS.UNSUPPORTED_FEATURE_OR_PARAMETER);
        const parameters = this.validParameters(p);
        if (parameters === null || p.peerAddressType > 0x03 || p.ownAddressType > 0x03)
          return this.commandStatus(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        for (const conn of this.connections.values())
          if (conn.link.peerAddressOf(this).address === p.peerAddress)
            return this.commandStatus(opcode, STATUS.CONNECTION_ALREADY_EXISTS);
        this.commandStatus(opcode, ok);
        const own = this.ownAddress(p.ownAddressType);
        this.initiatingState = { peerAddress: p.peerAddress, ...own, parameters };
        this.air.initiatingChanged(this);
        return;
      }
      case OP.LE_CREATE_CONNECTION_CANCEL: {
        if (this.initiatingState === null) return this.fail(opcode, STATUS.COMMAND_DISALLOWED);
        const peer = this.initiatingState.peerAddress;
        this.initiatingState = null;
        this.completeOk(opcode);
        // The cancelled attempt ends with LE Connection Complete, status Unknown Connection Identifier (7.8.13).
        this.leEvent(
          LE_EVT.CONNECTION_COMPLETE,
          encodeLeEventParams(LE_EVT.CONNECTION_COMPLETE, {
            status: STATUS.UNKNOWN_CONNECTION_IDENTIFIER,
            handle: 0,
            role: 0,
            peerAddressType: 0,
            peerAddress: peer,
            connInterval: 0,
            connLatency: 0,
            supervisionTimeout: 0,
            masterClockAccuracy: 0,
          }),
        );
        return;
      }
      case OP.LE_CONNECTION_UPDATE: {
        const p = decodeCommandParams(OP.LE_CONNECTION_UPDATE, params);
        const conn = this.connections.get(p.handle);
        if (conn === undefined) return this.commandStatus(opcode, STATUS.UNKNOWN_CONNECTION_IDENTIFIER);
        const parameters = this.validParameters(p);
        if (parameters === null) return this.commandStatus(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        this.commandStatus(opcode, ok);
        this.air.updateLink(conn.link, this, parameters);
        return;
      }
      case OP.LE_SET_DATA_LENGTH: {
        const p = decodeCommandParams(OP.LE_SET_DATA_LENGTH, params);
        const conn = this.connections.get(p.handle);
        if (conn === undefined)
          return this.completeWith(OP.LE_SET_DATA_LENGTH, {
            status: STATUS.UNKNOWN_CONNECTION_IDENTIFIER,
            handle: p.handle,
          });
        if (p.txOctets < 27 || p.txOctets > 251 || p.txTime < 328 || p.txTime > 17040)
          return this.completeWith(OP.LE_SET_DATA_LENGTH, {
            status: STATUS.INVALID_HCI_COMMAND_PARAMETERS,
            handle: p.handle,
          });
        this.completeWith(OP.LE_SET_DATA_LENGTH, { status: ok, handle: p.handle });
        this.air.setDataLength(conn.link, this, Math.min(p.txOctets, this.maxDataLength));
        return;
      }
      case OP.LE_READ_SUGGESTED_DEFAULT_DATA_LENGTH:
        return this.completeWith(OP.LE_READ_SUGGESTED_DEFAULT_DATA_LENGTH, {
          status: ok,
          suggestedMaxTxOctets: this.suggestedDataLength,
          suggestedMaxTxTime: airTime(this.suggestedDataLength),
        });
      case OP.LE_WRITE_SUGGESTED_DEFAULT_DATA_LENGTH: {
        const p = decodeCommandParams(OP.LE_WRITE_SUGGESTED_DEFAULT_DATA_LENGTH, params);
        if (p.suggestedMaxTxOctets < 27 || p.suggestedMaxTxOctets > 251)
          return this.fail(opcode, STATUS.INVALID_HCI_COMMAND_PARAMETERS);
        this.suggestedDataLength = Math.min(p.suggestedMaxTxOctets, this.maxDataLength);
        return this.completeOk(opcode);
      }
      case OP.LE_READ_MAXIMUM_DATA_LENGTH:
        return this.completeWith(OP.LE_READ_MAXIMUM_DATA_LENGTH, {
          status: ok,
          supportedMaxTxOctets: this.maxDataLength,
          supportedMaxTxTime: airTime(this.maxDataLength),
          supportedMaxRxOctets: this.maxDataLength,
          supportedMaxRxTime: airTime(this.maxDataLength),
        });
      default:
        // In the table but not handled above: a bug here, not in the host.
        throw new Error(`${commandSpec(opcode)?.name} has no handler`);
    }
  }

  /** Connection parameters within the ranges of 7.8.12 (interval, latency, timeout and their relation), or null. */
  private validParameters(p: {
    connIntervalMin: number;
    connIntervalMax: number;
    connLatency: number;
    supervisionTimeout: number;
  }): LinkParameters | null {
    const { connIntervalMin: min, connIntervalMax: max, connLatency: latency, supervisionTimeout: timeout } = p;
    if (min < 0x0006 || max > 0x0c80 || min > max || latency > 0x01f3) return null;
    if (timeout < 0x000a || timeout > 0x0c80) return null;
    // The timeout must be longer than (1 + latency) × interval max × 2.
    if (timeout * 10 <= (1 + latency) * max * 1.25 * 2) return null;
    return { interval: min, latency, timeout };
  }

  private ownAddress(ownAddressType: number): { address: string; addressType: number } {
    const random = (ownAddressType & 0x01) === 0x01 && this.randomAddress !== null;
    return random ? { address: this.randomAddress!, addressType: 1 } : { address: this.address, addressType: 0 };
  }

  // ---- ACL data ----------------------------------------------------------------------------------------------------

  private aclFromHost(packet: Extract<HciPacket, { type: "acl" }>): void {
    const conn = this.connections.get(packet.handle);
    if (conn === undefined) {
      this.note(`ACL data for handle ${packet.handle}, which is not connected: dropped`);
      return;
    }
    if (packet.data.length > this.leBuffer.length || this.hostPackets >= this.leBuffer.count) {
      this.note(
        packet.data.length > this.leBuffer.length
          ? `host wrote ${packet.data.length} octets of ACL data, over the ${this.leBuffer.length}-octet buffer: dropped`
          : `host wrote ACL data with all ${this.leBuffer.count} buffers in use: dropped`,
      );
      this.event(EVT.DATA_BUFFER_OVERFLOW, encodeEventParams(EVT.DATA_BUFFER_OVERFLOW, { linkType: 0x01 }));
      return;
    }
    this.hostPackets++;
    conn.unacknowledged++;
    // The link layer cuts the packet into PDUs of the connection's data length; the first keeps the packet's
    // boundary (start of an L2CAP PDU or continuation), the rest continue it.
    const octets = conn.link.txOctets.get(this)!;
    const data = packet.data;
    const count = Math.max(1, Math.ceil(data.length / octets));
    for (let i = 0; i < count; i++) {
      const llid = i === 0 && packet.pb !== PB.CONTINUATION ? LLID.START : LLID.CONTINUATION;
      const last = i === count - 1;
      this.air.send(
        conn.link,
        this,
        llid,
        data.slice(i * octets, (i + 1) * octets),
        last ? () => this.acknowledged(conn) : undefined,
      );
    }
  }

  /** The peer acknowledged the last PDU of a host packet: the buffer is free again (Number Of Completed Packets). */
  private acknowledged(conn: Connection): void {
    if (this.connections.get(conn.handle) !== conn) return; // disconnected meanwhile: the host freed it itself
    conn.unacknowledged--;
    this.hostPackets--;
    this.event(EVT.NUMBER_OF_COMPLETED_PACKETS, Uint8Array.of(1, conn.handle & 0xff, conn.handle >> 8, 1, 0));
  }

  private releaseToHost(): void {
    while (this.heldForHost.length > 0) {
      const next = this.heldForHost[0]!;
      const conn = this.connections.get(next.handle);
      if (conn === undefined) {
        this.heldForHost.shift();
        continue;
      }
      if (this.hostFlowControl && conn.atHost >= this.hostBuffer.totalNumAclDataPackets) return;
      this.heldForHost.shift();
      conn.atHost++;
      this.toHost(next.packet);
    }
  }

  // ---- the air's side ----------------------------------------------------------------------------------------------

  get defaultDataLength(): number {
    return this.suggestedDataLength;
  }

  advertising(): AdvertisingState | null {
    if (!this.advertisingOn || !this.up) return null;
    const own = this.ownAddress(this.advParams.ownAddressType);
    return {
      type: this.advParams.type,
      ...own,
      data: this.advData,
      scanResponse: this.scanResponseData,
      intervalMs: this.advParams.intervalMin * 0.625,
    };
  }

  scanning(): ScanningState | null {
    return this.scanningOn === null ? null : { active: this.scanningOn.active };
  }

  initiating(): InitiatingState | null {
    return this.initiatingState;
  }

  receiveAdvertisement(report: AdvertisementSeen): void {
    const scan = this.scanningOn;
    if (scan === null) return;
    const key = `${report.address}/${report.eventType}`;
    if (scan.filterDuplicates && scan.seen.has(key)) return;
    scan.seen.add(key);
    this.leEvent(LE_EVT.ADVERTISING_REPORT, encodeAdvertisingReports([report]));
  }

  linkEstablished(link: AirLink, role: "central" | "peripheral"): void {
    if (this.nextHandle > 0x0eff) this.nextHandle = 0x0040;
    while (this.connections.has(this.nextHandle)) this.nextHandle++;
    const handle = this.nextHandle++;
    const conn: Connection = { handle, link, role, unacknowledged: 0, atHost: 0, terminating: false };
    this.connections.set(handle, conn);
    this.byLink.set(link, conn);
    if (role === "peripheral") this.advertisingOn = false;
    else this.initiatingState = null;
    const peer = link.peerAddressOf(this);
    this.leEvent(
      LE_EVT.CONNECTION_COMPLETE,
      encodeLeEventParams(LE_EVT.CONNECTION_COMPLETE, {
        status: STATUS.SUCCESS,
        handle,
        role: role === "central" ? 0x00 : 0x01,
        peerAddressType: peer.addressType,
        peerAddress: peer.address,
        connInterval: link.parameters.interval,
        connLatency: link.parameters.latency,
        supervisionTimeout: link.parameters.timeout,
        masterClockAccuracy: 0x00,
      }),
    );
  }

  receiveData(link: AirLink, llid: number, payload: Uint8Array): void {
    const conn = this.byLink.get(link);
    if (conn === undefined) return;
    // With host flow control on, a PDU longer than the host's buffers goes up in pieces.
    const room = this.hostFlowControl ? this.hostBuffer.aclDataPacketLength : payload.length || 1;
    for (let at = 0, first = true; first || at < payload.length; at += room, first = false) {
      const pb = first && llid === LLID.START ? PB.FIRST_FLUSHABLE : PB.CONTINUATION;
      const packet = encodePacket({ type: "acl", handle: conn.handle, pb, bc: 0, data: payload.slice(at, at + room) });
      this.heldForHost.push({ handle: conn.handle, packet });
    }
    this.releaseToHost();
  }

  linkUpdated(link: AirLink): void {
    const conn = this.byLink.get(link);
    if (conn === undefined) return;
    this.leEvent(
      LE_EVT.CONNECTION_UPDATE_COMPLETE,
      encodeLeEventParams(LE_EVT.CONNECTION_UPDATE_COMPLETE, {
        status: STATUS.SUCCESS,
        handle: conn.handle,
        connInterval: link.parameters.interval,
        connLatency: link.parameters.latency,
        supervisionTimeout: link.parameters.timeout,
      }),
    );
  }

  dataLengthChanged(link: AirLink): void {
    const conn = this.byLink.get(link);
    if (conn === undefined) return;
    const tx = link.txOctets.get(this)!;
    const rx = link.txOctets.get(link.peerOf(this))!;
    this.note(`connection ${link.id}: data length TX ${tx} RX ${rx} octets`);
    this.leEvent(
      LE_EVT.DATA_LENGTH_CHANGE,
      encodeLeEventParams(LE_EVT.DATA_LENGTH_CHANGE, {
        handle: conn.handle,
        maxTxOctets: tx,
        maxTxTime: airTime(tx),
        maxRxOctets: rx,
        maxRxTime: airTime(rx),
      }),
    );
  }

  linkClosed(link: AirLink, reason: number): void {
    const conn = this.byLink.get(link);
    if (conn === undefined) return;
    this.byLink.delete(link);
    this.connections.delete(conn.handle);
    // The host takes every unacknowledged packet of the handle as flushed (7.7.5).
    this.hostPackets -= conn.unacknowledged;
    this.event(
      EVT.DISCONNECTION_COMPLETE,
      encodeEventParams(EVT.DISCONNECTION_COMPLETE, { status: STATUS.SUCCESS, handle: conn.handle, reason }),
    );
  }

  // ---- events to the host ------------------------------------------------------------------------------------------

  private completeOk(opcode: number): void {
    this.complete(opcode, Uint8Array.of(STATUS.SUCCESS));
  }

  private completeWith<O extends keyof typeof COMMANDS>(opcode: O, value: Parameters<typeof encodeReturnParams<O>>[1]) {
    this.complete(opcode, encodeReturnParams(opcode, value));
  }

  private complete(opcode: number, returnParameters: Uint8Array): void {
    this.event(
      EVT.COMMAND_COMPLETE,
      encodeEventParams(EVT.COMMAND_COMPLETE, { numHciCommandPackets: 1, opcode, returnParameters }),
    );
  }

  private commandStatus(opcode: number, status: number): void {
    this.event(EVT.COMMAND_STATUS, encodeEventParams(EVT.COMMAND_STATUS, { status, numHciCommandPackets: 1, opcode }));
  }

  /** Sends an event unless the host masked it (Set Event Mask: bit code − 1; the three below are never masked). */
  private event(code: number, params: Uint8Array): void {
    const unmaskable =
      code === EVT.COMMAND_COMPLETE || code === EVT.COMMAND_STATUS || code === EVT.NUMBER_OF_COMPLETED_PACKETS;
    if (!unmaskable && !bit(this.eventMask, code - 1)) {
      this.note(`event 0x${code.toString(16)} not sent: masked by the host`);
      return;
    }
    this.toHost(encodePacket({ type: "event", code, params }));
  }

  private leEvent(subevent: number, params: Uint8Array): void {
    if (!bit(this.eventMask, EVT.LE_META - 1) || !bit(this.leEventMask, subevent - 1)) {
      this.note(`LE subevent 0x${subevent.toString(16)} not sent: masked by the host`);
      return;
    }
    this.toHost(encodePacket({ type: "event", code: EVT.LE_META, params }));
  }

  /** Packets go up in order on a later turn of the event loop, as a socket delivers them. */
  private toHost(packet: Buffer): void {
    this.outbox.push(packet);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const packets = this.outbox.splice(0);
      for (const p of packets) {
        if (!this.up) return;
        this.logPacket(p, ">");
        this.emit("packet", p);
      }
    });
  }

  private resetState(): void {
    this.eventMask = DEFAULT_EVENT_MASK.slice();
    this.leEventMask = DEFAULT_LE_EVENT_MASK.slice();
    this.leHost = { leSupportedHost: 0, simultaneousLeHost: 0 };
    this.randomAddress = null;
    this.suggestedDataLength = this.initialDataLength;
    this.advParams = { intervalMin: 0x0800, type: 0, ownAddressType: 0 };
    this.advData = new Uint8Array(0);
    this.scanResponseData = new Uint8Array(0);
    const advertised = this.advertisingOn;
    this.advertisingOn = false;
    if (advertised) this.air.advertisingChanged(this);
    this.scanParams = { type: 0, ownAddressType: 0 };
    this.scanningOn = null;
    this.initiatingState = null;
    this.connections.clear();
    this.byLink.clear();
    this.hostPackets = 0;
    this.hostFlowControl = false;
    this.hostBuffer = { aclDataPacketLength: 0, totalNumAclDataPackets: 0 };
    this.heldForHost.length = 0;
  }

  private logPacket(bytes: Uint8Array, direction: "<" | ">"): void {
    if (this.log === null) return;
    for (const line of formatPacket(bytes, direction)) this.log(`[${this.name}] ${line}`);
  }

  private note(text: string): void {
    this.log?.(`[${this.name}] = ${text}`);
  }
}

function bit(mask: Uint8Array, n: number): boolean {
  return (((mask[n >> 3] ?? 0) >> (n & 7)) & 1) === 1;
}
