import { createRequire } from "node:module";
import type Bleno from "@abandonware/bleno";
import { COMMAND_CHAR_UUID, INFO_CHAR_UUID, LOCK_SERVICE_UUID, RESULT_CHAR_UUID } from "@latchkey/protocol";
import { BleUnavailableError } from "@latchkey/runtime";
import type { GattConnection, LockGattServer } from "./lock-gatt.js";

type BlenoInstance = typeof Bleno;

const require = createRequire(import.meta.url);

export interface HardwarePeripheral {
  stop(): Promise<void>;
}

/**
 * Serves the lock's GATT service on this host's Bluetooth adapter with @abandonware/bleno (optional dependency,
 * loaded here and only here). bleno drives one adapter per process, so one lock per process can use it. It fails with
 * a BleUnavailableError naming the cause when bleno cannot load (no HCI socket support, no adapter) or the adapter
 * does not power on. Only that error path runs in this repository's tests: there is no adapter on CI machines.
 */
export async function startBlenoPeripheral(server: LockGattServer, timeoutMs = 5000): Promise<HardwarePeripheral> {
  let bleno: BlenoInstance;
  try {
    bleno = require("@abandonware/bleno") as BlenoInstance;
  } catch (e) {
    throw new BleUnavailableError(
      `Bluetooth LE peripheral mode is unavailable on this host: @abandonware/bleno failed to load (${(e as Error).message}). ` +
        "It needs a Bluetooth adapter (Linux with an HCI socket, or macOS); use a VirtualRadio for tests.",
    );
  }
  await poweredOn(bleno, timeoutMs);

  let connection: GattConnection | null = null;
  let connected = false;
  let mtu = 23;
  const command = new bleno.Characteristic({
    uuid: COMMAND_CHAR_UUID,
    properties: ["write", "writeWithoutResponse"],
    onWriteRequest(data, offset, _withoutResponse, callback) {
      if (offset !== 0) return callback(bleno.Characteristic.RESULT_INVALID_OFFSET);
      connection?.write(new Uint8Array(data));
      callback(bleno.Characteristic.RESULT_SUCCESS);
    },
  });
  const result = new bleno.Characteristic({
    uuid: RESULT_CHAR_UUID,
    properties: ["notify"],
    onSubscribe(_maxValueSize, update) {
      connection?.subscribe((frame) => update(Buffer.from(frame)));
    },
    onUnsubscribe() {
      connection?.subscribe(null);
    },
  });
  const info = new bleno.Characteristic({
    uuid: INFO_CHAR_UUID,
    properties: ["read"],
    onReadRequest(offset, callback) {
      const value = Buffer.from(server.info());
      if (offset > value.length) return callback(bleno.Characteristic.RESULT_INVALID_OFFSET);
      callback(bleno.Characteristic.RESULT_SUCCESS, value.subarray(offset));
    },
  });

  const onAccept = () => {
    connected = true;
    connection?.close();
    connection = server.openConnection(mtu);
  };
  const onMtu = (value: number) => {
    mtu = value;
    connection?.setMtu(value);
  };
  const onDisconnect = () => {
    connected = false;
    connection?.close();
    connection = null;
    mtu = 23;
  };
  bleno.on("accept", onAccept);
  bleno.on("mtuChange", onMtu);
  bleno.on("disconnect", onDisconnect);

  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      // bleno calls back only when the controller confirms; a controller that never does must not hang startLock.
      timer = setTimeout(
        () => reject(new BleUnavailableError(`bleno did not start advertising within ${timeoutMs} ms`)),
        timeoutMs,
      );
      bleno.startAdvertising(server.localName.slice(0, 26), [LOCK_SERVICE_UUID], (err) => {
        if (err) return reject(new BleUnavailableError(`bleno could not advertise: ${err.message}`));
        bleno.setServices(
          [new bleno.PrimaryService({ uuid: LOCK_SERVICE_UUID, characteristics: [command, result, info] })],
          (e) => (e ? reject(new BleUnavailableError(`bleno could not set services: ${e.message}`)) : resolve()),
        );
      });
    });
  } catch (e) {
    bleno.removeListener("accept", onAccept);
    bleno.removeListener("mtuChange", onMtu);
    bleno.removeListener("disconnect", onDisconnect);
    bleno.stopAdvertising();
    throw e;
  } finally {
    clearTimeout(timer);
  }

  return {
    async stop() {
      bleno.removeListener("accept", onAccept);
      bleno.removeListener("mtuChange", onMtu);
      connection?.close();
      await new Promise<void>((resolve) => bleno.stopAdvertising(() => resolve()));
      if (connected) {
        // Wait for the link to end: bleno restarts advertising when a link goes down while it advertises, so a
        // Disconnection Complete arriving after the next startBlenoPeripheral left bleno "restarting", and that one
        // never heard advertisingStart (found on real stacks, test/hci-stacks.test.ts).
        await new Promise<void>((resolve) => {
          const gone = () => {
            clearTimeout(done);
            resolve();
          };
          const done = setTimeout(() => {
            bleno.removeListener("disconnect", gone);
            resolve();
          }, timeoutMs);
          bleno.once("disconnect", gone);
          bleno.disconnect();
        });
      }
      bleno.removeListener("disconnect", onDisconnect);
    },
  };
}

function poweredOn(bleno: BlenoInstance, timeoutMs: number): Promise<void> {
  if (bleno.state === "poweredOn") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      bleno.removeListener("stateChange", onState);
      reject(
        new BleUnavailableError(`the Bluetooth adapter did not power on within ${timeoutMs} ms (state ${bleno.state})`),
      );
    }, timeoutMs);
    const onState = (state: string) => {
      if (state === "poweredOn") {
        clearTimeout(timer);
        bleno.removeListener("stateChange", onState);
        resolve();
      } else if (state === "unsupported" || state === "unauthorized") {
        clearTimeout(timer);
        bleno.removeListener("stateChange", onState);
        reject(new BleUnavailableError(`the Bluetooth adapter is ${state}`));
      }
    };
    bleno.on("stateChange", onState);
  });
}
