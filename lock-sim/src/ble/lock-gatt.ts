import {
  ADVERTISED_NAME_PREFIX,
  type Command,
  type CommandResult,
  chunkMessage,
  DEFAULT_ATT_MTU,
  decodeCommand,
  encodeCommandResult,
  FrameAssembler,
} from "@latchkey/protocol";
import type { Logger } from "pino";
import type { LockFirmware } from "../lock/firmware.js";
import { commandIdOf } from "../mqtt/lock-link.js";

/**
 * Live nonces one BLE connection may hold in each of the lock's books (challenges, time requests, command nonces;
 * review 12.8): a phone and a gateway each answer theirs at once, so two leave room for a retry; a stranger in radio
 * range can hold no more than its connections allow, and never the phone's or the bridge's.
 */
export const CHALLENGES_PER_CONNECTION = 2;

/**
 * The lock's GATT service (protocol/ble/gatt.ts), independent of the radio that carries it: a virtual radio in tests,
 * bleno on real hardware. Per connection it reassembles command frames, runs the command through the firmware, and
 * sends the framed result as notifications on `result`.
 *
 * Every command is the same as over MQTT and none needs a secret (docs/trust.md "Lock"): a key token proves itself,
 * a state, time answer or remote command is signed by the lock holder's authority and checked by the trust engine,
 * and `reports` frees nothing. So anyone in radio range may carry them, a phone or a bridge's BLE gateway alike, and
 * gains nothing by lying.
 */
export class LockGattServer {
  readonly localName: string;
  /** Connections opened so far: names each one, as the holder of its challenges. */
  private connections = 0;

  constructor(
    readonly firmware: LockFirmware,
    private readonly logger: Logger,
  ) {
    this.localName = `${ADVERTISED_NAME_PREFIX}${firmware.lockId}`;
  }

  /** The `info` characteristic: the lock id as UTF-8. */
  info(): Uint8Array {
    return new TextEncoder().encode(this.firmware.lockId);
  }

  openConnection(mtu: number = DEFAULT_ATT_MTU): GattConnection {
    return new GattConnection(this, mtu, `ble-${++this.connections}`);
  }

  /** The connection `holderId` closed: its nonces (challenges, time requests, command nonces) go with it. */
  connectionClosed(holderId: string): void {
    this.firmware.releaseNonces(holderId);
  }

  /** One whole command message from a central, on connection `holderId` (challenges are counted per connection). */
  handleMessage(raw: Uint8Array, holderId: string): CommandResult {
    let cmd: Command;
    try {
      cmd = decodeCommand(raw);
    } catch (e) {
      return { id: commandIdOf(raw), ok: false, code: "invalid_command", message: (e as Error).message };
    }
    const result = this.firmware.handleCommand(cmd, { id: holderId, max: CHALLENGES_PER_CONNECTION });
    if (result.code === "too_many_challenges") {
      this.logger.warn({ lock: this.firmware.lockId, type: cmd.type, message: result.message }, "nonce refused");
    }
    return result;
  }
}

export class GattConnection {
  private readonly assembler = new FrameAssembler();
  private notifier: ((frame: Uint8Array) => void) | null = null;
  private open = true;

  constructor(
    private readonly server: LockGattServer,
    private mtu: number,
    private readonly holderId: string,
  ) {}

  setMtu(mtu: number): void {
    this.mtu = mtu;
  }

  /** The central (un)subscribed to `result`. */
  subscribe(notify: ((frame: Uint8Array) => void) | null): void {
    this.notifier = notify;
  }

  /** A frame written to `command`. */
  write(frame: Uint8Array): void {
    if (!this.open) return;
    let message: Uint8Array | null;
    try {
      message = this.assembler.push(frame);
    } catch (e) {
      this.reply({ id: "unknown", ok: false, code: "invalid_command", message: (e as Error).message });
      return;
    }
    if (message !== null) this.reply(this.server.handleMessage(message, this.holderId));
  }

  private reply(result: CommandResult): void {
    const notify = this.notifier;
    if (notify === null) return; // nobody listens: a real lock would have nowhere to send it either
    for (const frame of chunkMessage(encodeCommandResult(result), this.mtu)) notify(frame);
  }

  close(): void {
    if (this.open) this.server.connectionClosed(this.holderId);
    this.open = false;
    this.notifier = null;
    this.assembler.reset();
  }
}
