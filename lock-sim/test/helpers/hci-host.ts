import { decodePacket, EVT, type HciPacket } from "../../src/ble/hci-emulator/hci-codec.js";
import type { EmulatedController } from "../../src/ble/hci-emulator/index.js";

export const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** What noble's setScanParameters() writes: active, 11.25 ms interval and window, public address, accept all. */
export const NOBLE_SCAN_PARAMETERS = {
  leScanType: 1,
  leScanInterval: 0x12,
  leScanWindow: 0x12,
  ownAddressType: 0,
  scanningFilterPolicy: 0,
};

/** Turns of the event loop until nothing is pending in the emulator (it only schedules setImmediate work here). */
export async function idle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
}

/** A host that drives an emulated controller with raw HCI packets and waits for what comes back. */
export class Host {
  private readonly inbox: HciPacket[] = [];
  private wake: (() => void) | null = null;

  constructor(readonly controller: EmulatedController) {
    controller.on("packet", (p: Buffer) => {
      this.inbox.push(decodePacket(p));
      this.wake?.();
    });
  }

  send(packet: Buffer): void {
    this.controller.write(packet);
  }

  /** The next packet (in order of arrival, skipping none) that `match` accepts; earlier ones are discarded. */
  async next(match: (p: HciPacket) => boolean): Promise<HciPacket> {
    for (;;) {
      const i = this.inbox.findIndex(match);
      if (i >= 0) return this.inbox.splice(0, i + 1).at(-1)!;
      await new Promise<void>((r) => {
        this.wake = r;
      });
    }
  }

  /** Sends a command and returns its Command Complete return parameters (or the Command Status status). */
  async command(packet: Buffer): Promise<Uint8Array> {
    const opcode = packet.readUInt16LE(1);
    this.send(packet);
    const answer = await this.next(
      (p) =>
        p.type === "event" &&
        ((p.code === EVT.COMMAND_COMPLETE && (p.params[1]! | (p.params[2]! << 8)) === opcode) ||
          (p.code === EVT.COMMAND_STATUS && (p.params[2]! | (p.params[3]! << 8)) === opcode)),
    );
    const event = answer as Extract<HciPacket, { type: "event" }>;
    return event.code === EVT.COMMAND_COMPLETE ? event.params.subarray(3) : event.params.subarray(0, 1);
  }

  leEvent(subevent: number): Promise<Extract<HciPacket, { type: "event" }>> {
    return this.next((p) => p.type === "event" && p.code === EVT.LE_META && p.params[0] === subevent) as never;
  }

  event(code: number): Promise<Extract<HciPacket, { type: "event" }>> {
    return this.next((p) => p.type === "event" && p.code === code) as never;
  }

  acl(): Promise<Extract<HciPacket, { type: "acl" }>> {
    return this.next((p) => p.type === "acl") as never;
  }

  pending(): HciPacket[] {
    return [...this.inbox];
  }
}
