import { EventEmitter } from "node:events";
import { type HciFilter, parseHciFilter } from "./hci-filter.js";

/** The error a native socket call throws: `code` is the errno name noble and bleno test for. */
export function errnoError(code: string, message: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}, ${message}`);
  e.code = code;
  return e;
}

/**
 * What every stand-in for `@abandonware/bluetooth-hci-socket` shares, whatever carries its packets: the three binds
 * noble and bleno call, the `struct hci_filter` they set, and start/stop. A management socket (`bindControl`) binds
 * nothing. Like hci-filter.ts it imports nothing else from lock-sim (h4-socket.ts says why).
 */
export abstract class HciSocketSurface extends EventEmitter {
  protected mode: "raw" | "user" | "control" | null = null;
  protected filter: HciFilter | null = null;
  protected started = false;

  bindRaw(devId?: number): number {
    return this.bind("raw", devId);
  }

  bindUser(devId?: number): number {
    return this.bind("user", devId);
  }

  bindControl(): number {
    this.mode = "control";
    return 0;
  }

  /** A `struct hci_filter`: type mask (u32), event mask (2 × u32), opcode (u16). */
  setFilter(filter: Buffer): void {
    this.filter = parseHciFilter(filter);
  }

  start(): void {
    this.started = true;
  }

  stop(): void {
    this.started = false;
  }

  reset(): void {}

  /** Binds a raw or user channel to `devId` (the default device when none); answers the device id bound. */
  protected abstract bind(mode: "raw" | "user", devId: number | undefined): number;
}
