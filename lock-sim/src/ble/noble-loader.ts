import { createRequire } from "node:module";
import type * as NobleModule from "@abandonware/noble";

/** A noble instance (the module's public API: startScanningAsync, on("discover"), …). */
export type Noble = typeof NobleModule;
export type { Characteristic, Peripheral } from "@abandonware/noble";

export class BleUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BleUnavailableError";
  }
}

const require = createRequire(import.meta.url);

/**
 * noble is an optional dependency: loaded only when a central is wanted. `with-bindings` never touches an adapter,
 * so this works on any host; the default entry point needs a Bluetooth adapter (see `loadHardwareNoble`).
 */
export async function loadNobleWithBindings(): Promise<(bindings: unknown) => Noble> {
  try {
    return require("@abandonware/noble/with-bindings") as (bindings: unknown) => Noble;
  } catch (e) {
    throw new BleUnavailableError(
      `@abandonware/noble could not be loaded (${(e as Error).message}); it is an optional dependency: npm install @abandonware/noble`,
    );
  }
}

/** noble on this host's Bluetooth adapter, for a phone or gateway on real hardware. */
export async function loadHardwareNoble(): Promise<Noble> {
  try {
    return require("@abandonware/noble") as Noble;
  } catch (e) {
    throw new BleUnavailableError(
      `Bluetooth LE central mode is unavailable on this host: @abandonware/noble failed to load (${(e as Error).message}). ` +
        "It needs a Bluetooth adapter (Linux HCI socket, macOS or Windows); use a VirtualRadio for tests.",
    );
  }
}
