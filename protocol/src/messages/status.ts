import { ProtocolError } from "../errors.js";

/** Presence of a lock or a bridge: retained UTF-8 text, also the MQTT last will (`offline`). */
export type Presence = "online" | "offline";

const encoder = new TextEncoder();
const ONLINE = encoder.encode("online");
const OFFLINE = encoder.encode("offline");

export function encodeStatus(presence: Presence): Uint8Array {
  return presence === "online" ? ONLINE : OFFLINE;
}

export function decodeStatus(bytes: Uint8Array): Presence {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  if (text === "online" || text === "offline") return text;
  throw new ProtocolError("invalid_message", 'status must be the text "online" or "offline"');
}
