/**
 * The lock's GATT service. A phone writes command frames to `command` and receives result frames as notifications
 * on `result`; `info` reads the lock id as UTF-8. Messages are the command codecs of messages/command.ts, framed by
 * ble/framing.ts because a token is larger than one ATT packet.
 * UUIDs are written the way noble and bleno take them: lowercase hex without dashes.
 */
export const LOCK_SERVICE_UUID = "c0de00011a7c4b3e9f006c617463686b";
export const COMMAND_CHAR_UUID = "c0de00021a7c4b3e9f006c617463686b";
export const RESULT_CHAR_UUID = "c0de00031a7c4b3e9f006c617463686b";
export const INFO_CHAR_UUID = "c0de00041a7c4b3e9f006c617463686b";

/** Advertised local name prefix: `latchkey-<lockId>` (truncated by the radio if long). */
export const ADVERTISED_NAME_PREFIX = "latchkey-";

/** Default ATT MTU of BLE 4.0; every central and peripheral supports at least this. */
export const DEFAULT_ATT_MTU = 23;
