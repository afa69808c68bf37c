import type { Ed25519Backend } from "../crypto/ed25519.js";
import { isStrongPublicKey } from "../crypto/ed25519.js";
import { openSmallDocument, settle, signClaims, type TrustVerdict } from "./document.js";
import { AUTHORITY_KEY_BYTES, HandOverLabel, TrustTyp } from "./labels.js";

/**
 * Hand-over (docs/design.md section 7, docs/trust.md "Hand-over"): the old authority signs `{newKey, fromV}` with its
 * own typ. The cloud carries it in the protected header of every state it signs with the new key until each lock has
 * reported the new key; a lock pinned to the old key checks it with that key and then pins `newKey`.
 */
export interface HandOver {
  /** The new authority's Ed25519 public key. */
  newKey: Uint8Array;
  /** The first state version signed by the new key: a state below it cannot carry this hand-over. */
  fromV: number;
}

export function signHandOver(handOver: HandOver, oldAuthoritySecret: Uint8Array, backend?: Ed25519Backend): Uint8Array {
  if (!isStrongPublicKey(handOver.newKey)) throw new TypeError("newKey must be a valid Ed25519 public key");
  if (!Number.isSafeInteger(handOver.fromV) || handOver.fromV < 1)
    throw new TypeError("fromV must be a safe integer >= 1");
  return signClaims(
    TrustTyp.handOver,
    [
      [HandOverLabel.newKey, handOver.newKey],
      [HandOverLabel.fromV, handOver.fromV],
    ],
    oldAuthoritySecret,
    backend,
  );
}

/** Verifies a hand-over under the authority the lock has pinned; answers the key to pin next. */
export function verifyHandOver(
  bytes: Uint8Array,
  options: { authority: Uint8Array; backend?: Ed25519Backend },
): TrustVerdict<{ handOver: HandOver }> {
  return settle(() => {
    const claims = openSmallDocument(bytes, TrustTyp.handOver, "hand-over", options.authority, options.backend);
    const newKey = claims.bytes(HandOverLabel.newKey, "newKey", AUTHORITY_KEY_BYTES);
    if (!isStrongPublicKey(newKey)) claims.fail("newKey", "a valid Ed25519 public key");
    return { handOver: { newKey: new Uint8Array(newKey), fromV: claims.uint(HandOverLabel.fromV, "fromV", 1) } };
  });
}
