import { COMMAND_CHAR_UUID, INFO_CHAR_UUID, LOCK_SERVICE_UUID, RESULT_CHAR_UUID } from "@latchkey/protocol";
import type { LockGattServer } from "./lock-gatt.js";
import type { AdvertisementHandle, CentralLink, PeripheralConnection, VirtualRadio } from "./virtual-radio.js";

/** The lock's GATT table as a virtual radio peripheral advertises it. */
export const LOCK_GATT_SERVICES = [
  {
    uuid: LOCK_SERVICE_UUID,
    characteristics: [
      { uuid: COMMAND_CHAR_UUID, properties: ["write" as const, "writeWithoutResponse" as const] },
      { uuid: RESULT_CHAR_UUID, properties: ["notify" as const] },
      { uuid: INFO_CHAR_UUID, properties: ["read" as const] },
    ],
  },
];

/** Puts a lock's GATT service on a virtual radio. */
export function advertiseLock(radio: VirtualRadio, server: LockGattServer, mtu = 247): AdvertisementHandle {
  return radio.advertise({
    id: server.firmware.lockId,
    localName: server.localName,
    advertisedServiceUuids: [LOCK_SERVICE_UUID],
    services: LOCK_GATT_SERVICES,
    mtu,
    connect(link: CentralLink): PeripheralConnection {
      const connection = server.openConnection(link.mtu);
      return {
        read(serviceUuid, characteristicUuid) {
          return serviceUuid === LOCK_SERVICE_UUID && characteristicUuid === INFO_CHAR_UUID
            ? server.info()
            : new Uint8Array(0);
        },
        write(serviceUuid, characteristicUuid, data) {
          if (serviceUuid === LOCK_SERVICE_UUID && characteristicUuid === COMMAND_CHAR_UUID) connection.write(data);
        },
        subscribe(serviceUuid, characteristicUuid, on) {
          if (serviceUuid !== LOCK_SERVICE_UUID || characteristicUuid !== RESULT_CHAR_UUID) return;
          connection.subscribe(on ? (frame) => link.notify(LOCK_SERVICE_UUID, RESULT_CHAR_UUID, frame) : null);
        },
        closed() {
          connection.close();
        },
      };
    },
  });
}
