import { createRequire } from "node:module";
import type * as NobleModule from "@abandonware/noble";

/** A noble instance: the module's public API (startScanningAsync, on("discover"), …), on any bindings. */
export type Noble = typeof NobleModule;
export type { Characteristic, Peripheral, Service } from "@abandonware/noble";

export class BleUnavailableError extends Error {
  readonly code = "ble_unavailable";
  constructor(message: string) {
    super(message);
    this.name = "BleUnavailableError";
  }
}

const require = createRequire(import.meta.url);

/**
 * noble on this host's Bluetooth adapter. An optional dependency that fails at import on a host without Bluetooth
 * support, so it is loaded only here, when `ble.enabled` is set and no noble instance was handed in.
 */
export async function loadHardwareNoble(load: () => unknown = () => require("@abandonware/noble")): Promise<Noble> {
  try {
    return load() as Noble;
  } catch (e) {
    throw new BleUnavailableError(
      `ble.enabled is set but Bluetooth LE is unavailable on this host: @abandonware/noble failed to load ` +
        `(${(e as Error).message}). It needs a Bluetooth adapter and the optional dependency installed ` +
        "(npm install @abandonware/noble); or set ble.enabled: false.",
    );
  }
}
