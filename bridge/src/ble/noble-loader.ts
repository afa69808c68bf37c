import { loadNoble, type Noble } from "@latchkey/runtime";

export { BleUnavailableError, type Characteristic, type Noble, type Peripheral, type Service } from "@latchkey/runtime";

/**
 * noble on this host's Bluetooth adapter, loaded only when `ble.enabled` is set and no noble instance was handed in
 * (runtime's loadNoble: it fails at import on a host without Bluetooth support); the error names the option.
 */
export function loadHardwareNoble(load?: () => unknown): Promise<Noble> {
  return loadNoble(
    (cause) =>
      `ble.enabled is set but Bluetooth LE is unavailable on this host: @abandonware/noble failed to load ` +
      `(${cause}). It needs a Bluetooth adapter and the optional dependency installed ` +
      "(npm install @abandonware/noble); or set ble.enabled: false.",
    load,
  );
}
