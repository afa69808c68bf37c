import { createRequire } from "node:module";
import type * as NobleModule from "@abandonware/noble";

/** A noble instance: the module's public API (startScanningAsync, on("discover"), …), on any bindings. */
export type Noble = typeof NobleModule;
export type { Characteristic, Peripheral, Service } from "@abandonware/noble";

/** Bluetooth LE cannot be used here: the library failed to load, or the adapter is missing or off. */
export class BleUnavailableError extends Error {
  readonly code = "ble_unavailable";
  constructor(message: string) {
    super(message);
    this.name = "BleUnavailableError";
  }
}

const require = createRequire(import.meta.url);

function lazily<T>(load: () => unknown, explain: (cause: string) => string): T {
  try {
    return load() as T;
  } catch (e) {
    throw new BleUnavailableError(explain((e as Error).message));
  }
}

/**
 * noble on this host's Bluetooth adapter. It is an optional dependency that fails at import on a host without
 * Bluetooth support, so it is loaded only when a central is wanted, never at start-up; `explain` turns the cause into
 * the caller's advice (the bridge names its `ble.enabled` option, the phone a VirtualRadio). `load` stands in for the
 * import in tests.
 */
export async function loadNoble(
  explain: (cause: string) => string,
  load: () => unknown = () => require("@abandonware/noble"),
): Promise<Noble> {
  return lazily(load, explain);
}

/** noble's `with-bindings` entry, which never touches an adapter: for a VirtualRadio's bindings, on any host. */
export async function loadNobleWithBindings(): Promise<(bindings: unknown) => Noble> {
  return lazily(
    () => require("@abandonware/noble/with-bindings"),
    (cause) =>
      `@abandonware/noble could not be loaded (${cause}); it is an optional dependency: npm install @abandonware/noble`,
  );
}
