import { createHmac, timingSafeEqual } from "node:crypto";
import { encodeCbor } from "../cbor/encode.js";
import { ProtocolError } from "../errors.js";
import { NONCE_BYTES, sha256 } from "../token/proof.js";
import type { Command } from "./command.js";
import { Fields } from "./fields.js";

/**
 * Authentication of gateway commands (`sync`, `events`) over BLE.
 *
 * Over MQTT only the bridge may publish to a lock's `cmd` and `sync` (the broker's ACL), but over BLE anyone in radio
 * range can write to the command characteristic. An unauthenticated `sync` would let a stranger install their own
 * issuer key and then open the door with a token they minted; an unauthenticated `events` would erase the audit
 * trail. So a lock takes these two commands over BLE only with a MAC from its bridge:
 *
 *   mac = HMAC-SHA256(key = the lock's MQTT password (UTF-8),
 *                     CBOR ["latchkey-gateway-v1", lockId, nonce, type, id, body])
 *   body = sha256(sync) for `sync`, the integer `after` for `events`
 *
 * where `nonce` comes from a `challenge` the gateway sent first (single use, 30 s, like an unlock). The command map
 * carries two extra fields, `nonce` (16 bytes) and `mac` (32 bytes); protocol's `decodeCommand` ignores them, so the
 * command itself is unchanged. The key is the per-lock broker password both sides already share: the bridge derives
 * it from its site secret (protocol `deriveLockPassword`), the lock was provisioned with it.
 */
export const GATEWAY_AUTH_CONTEXT = "latchkey-gateway-v1";
export const GATEWAY_MAC_BYTES = 32;

export type GatewayCommand = Extract<Command, { type: "sync" | "events" }>;

export function isGatewayCommand(cmd: Command): cmd is GatewayCommand {
  return cmd.type === "sync" || cmd.type === "events";
}

export function gatewayAuthMessage(lockId: string, nonce: Uint8Array, cmd: GatewayCommand): Uint8Array {
  const body = cmd.type === "sync" ? sha256(cmd.sync) : cmd.after;
  return encodeCbor([GATEWAY_AUTH_CONTEXT, lockId, nonce, cmd.type, cmd.id, body]);
}

export function gatewayMac(password: string, lockId: string, nonce: Uint8Array, cmd: GatewayCommand): Uint8Array {
  return new Uint8Array(
    createHmac("sha256", password)
      .update(gatewayAuthMessage(lockId, nonce, cmd))
      .digest(),
  );
}

/** What a gateway sends: the command with `nonce` and `mac` added. */
export function encodeGatewayCommand(
  cmd: GatewayCommand,
  auth: { lockId: string; nonce: Uint8Array; password: string },
): Uint8Array {
  if (auth.nonce.length !== NONCE_BYTES) throw new TypeError(`nonce must be ${NONCE_BYTES} bytes`);
  return encodeCbor({ ...cmd, nonce: auth.nonce, mac: gatewayMac(auth.password, auth.lockId, auth.nonce, cmd) });
}

/** Reads `nonce` and `mac` from a raw command; null when either is missing or malformed. */
export function readGatewayAuth(raw: Uint8Array): { nonce: Uint8Array; mac: Uint8Array } | null {
  try {
    const f = Fields.decode(raw, "command", { maxBytes: raw.length });
    if (!f.has("nonce") || !f.has("mac")) return null;
    return { nonce: f.bytes("nonce", NONCE_BYTES), mac: f.bytes("mac", GATEWAY_MAC_BYTES) };
  } catch (e) {
    if (e instanceof ProtocolError) return null;
    throw e;
  }
}

export function macMatches(expected: Uint8Array, given: Uint8Array): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}
