import { encodeCbor } from "../cbor/encode.js";
import { ProtocolError } from "../errors.js";
import { Fields, LOCK_ID_PATTERN } from "./fields.js";

/**
 * The lock's public keys, as it publishes them retained on its `keys` topic (docs/mqtt.md "Reports and keys") and
 * answers them to `ping`. A courier attaches them to the lock's reports for the cloud, which believes them only when
 * they match the fingerprint of the lock's setup code (docs/trust.md "Identity"): a courier that swaps them gets every
 * report refused as `forged`, nothing more. CBOR `{lock, identity: bstr(32), x25519: bstr(32)}`.
 */
export interface LockKeysMessage {
  lock: string;
  /** Ed25519 identity public key. */
  identity: Uint8Array;
  /** X25519 public key the lock's report key is derived with (docs/reports.md). */
  x25519: Uint8Array;
}

const MAX_LOCK_KEYS_BYTES = 256;

export function encodeLockKeys(message: LockKeysMessage): Uint8Array {
  return encodeCbor({ lock: message.lock, identity: message.identity, x25519: message.x25519 });
}

export function decodeLockKeys(bytes: Uint8Array): LockKeysMessage {
  if (bytes.length > MAX_LOCK_KEYS_BYTES)
    throw new ProtocolError("too_large", `lock keys message is ${bytes.length} bytes, over ${MAX_LOCK_KEYS_BYTES}`);
  const f = Fields.decode(bytes, "lock keys", { maxBytes: MAX_LOCK_KEYS_BYTES });
  return {
    lock: f.text("lock", 64, LOCK_ID_PATTERN),
    identity: f.bytes("identity", 32),
    x25519: f.bytes("x25519", 32),
  };
}
