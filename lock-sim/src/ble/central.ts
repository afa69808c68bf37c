import { ADVERTISED_NAME_PREFIX, LOCK_SERVICE_UUID } from "@latchkey/protocol";
import { BleWrongPeripheralError, GattClient } from "@latchkey/protocol/ble";
import { BleTimeoutError, loadNoble, type Noble, NobleGattLink, type Peripheral, withTimeout } from "@latchkey/runtime";

export { BleTimeoutError };

/**
 * A BLE central that talks to a latchkey lock through noble's public API only (startScanningAsync, on("discover"),
 * then the one GATT client of @latchkey/protocol/ble over runtime's NobleGattLink), so the same code drives a real
 * adapter or a VirtualRadio. Used by the simulated phone; a bridge's BLE gateway drives the same client (`ping`,
 * `state`, `time_request`/`time_answer`, `reports`: docs/trust.md "Lock").
 */

/** noble on this host's Bluetooth adapter, for a phone on real hardware. */
export function loadHardwareNoble(): Promise<Noble> {
  return loadNoble(
    (cause) =>
      `Bluetooth LE central mode is unavailable on this host: @abandonware/noble failed to load (${cause}). ` +
      "It needs a Bluetooth adapter (Linux HCI socket, macOS or Windows); use a VirtualRadio for tests.",
  );
}

export interface ConnectOptions {
  /** Whole budget for finding and connecting (default 10 s). */
  timeoutMs?: number;
  /** Per command round trip (default 5 s). */
  requestTimeoutMs?: number;
}

async function poweredOn(noble: Noble, ms: number): Promise<void> {
  // noble's typings name only `_state`; the public `state` getter also starts the bindings.
  if ((noble as unknown as { state: string }).state === "poweredOn") return;
  await withTimeout(
    new Promise<void>((resolve) => {
      const onState = (state: string) => {
        if (state !== "poweredOn") return;
        noble.removeListener("stateChange", onState);
        resolve();
      };
      noble.on("stateChange", onState);
    }),
    ms,
    "waiting for the Bluetooth adapter to power on",
  );
}

/** Whether an advertised name can be this lock's (names are truncated by the radio). */
function mayBe(peripheral: Peripheral, lockId: string): boolean {
  const name = peripheral.advertisement?.localName;
  return (
    typeof name === "string" &&
    name.startsWith(ADVERTISED_NAME_PREFIX) &&
    `${ADVERTISED_NAME_PREFIX}${lockId}`.startsWith(name)
  );
}

/**
 * An open connection to one lock: protocol's GattClient on noble, which also shows the noble peripheral (its
 * advertisement, MTU, services and disconnect events).
 */
export class LockSession extends GattClient<NobleGattLink> {
  get peripheral(): Peripheral {
    return this.link.peripheral;
  }
}

/** Scans for the lock's service and connects to the peripheral whose `info` reads `lockId`. */
export async function connectToLock(noble: Noble, lockId: string, options: ConnectOptions = {}): Promise<LockSession> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  await poweredOn(noble, timeoutMs);
  const candidates: Peripheral[] = [];
  let wake: (() => void) | null = null;
  const onDiscover = (p: Peripheral) => {
    if (!mayBe(p, lockId)) return;
    candidates.push(p);
    wake?.();
  };
  noble.on("discover", onDiscover);
  try {
    await noble.startScanningAsync([LOCK_SERVICE_UUID], false);
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new BleTimeoutError(`looking for lock ${lockId}`, timeoutMs);
      const next = candidates.shift();
      if (next === undefined) {
        await withTimeout(new Promise<void>((r) => (wake = r)), left, `looking for lock ${lockId}`).catch((e) => {
          throw e instanceof BleTimeoutError ? new BleTimeoutError(`looking for lock ${lockId}`, timeoutMs) : e;
        });
        continue;
      }
      const session = new LockSession(new NobleGattLink(next), {
        deadline: withTimeout,
        openTimeoutMs: Math.max(1, deadline - Date.now()),
        requestTimeoutMs: options.requestTimeoutMs ?? 5000,
        lockId,
      });
      try {
        return await session.open();
      } catch (e) {
        // Another lock, or no lock at all: the next candidate may be the one.
        if (!(e instanceof BleWrongPeripheralError)) throw e;
      }
    }
  } finally {
    noble.removeListener("discover", onDiscover);
    await noble.stopScanningAsync().catch(() => {});
  }
}
