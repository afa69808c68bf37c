import { createHmac, timingSafeEqual } from "node:crypto";
import { encodeCbor } from "../cbor/encode.js";
import { AUTHORITY_KEY_BYTES, CLAIM_SECRET_BYTES, PIN_TAG_BYTES } from "./labels.js";

/**
 * The pin tag (docs/design.md section 7, docs/trust.md "Pinning"): proof that whoever offers an authority key to an
 * unpinned lock knows the lock's printed claim secret, bound to that lock and that key, so a tag cannot be moved to
 * another lock or another authority.
 *
 *   HMAC-SHA256(claimSecret, CBOR ["latchkey-pin-v1", lockId, authorityPub])
 */
export const PIN_CONTEXT = "latchkey-pin-v1";

export function pinTag(claimSecret: Uint8Array, lockId: string, authorityPub: Uint8Array): Uint8Array {
  if (!(claimSecret instanceof Uint8Array) || claimSecret.length !== CLAIM_SECRET_BYTES) {
    throw new TypeError(`claim secret must be ${CLAIM_SECRET_BYTES} bytes`);
  }
  if (!(authorityPub instanceof Uint8Array) || authorityPub.length !== AUTHORITY_KEY_BYTES) {
    throw new TypeError("authority key must be 32 bytes");
  }
  return new Uint8Array(
    createHmac("sha256", claimSecret)
      .update(encodeCbor([PIN_CONTEXT, lockId, authorityPub]))
      .digest(),
  );
}

/** Constant-time check of a pin tag; false for anything of the wrong shape. */
export function checkPinTag(claimSecret: Uint8Array, lockId: string, authorityPub: Uint8Array, tag: unknown): boolean {
  if (!(tag instanceof Uint8Array) || tag.length !== PIN_TAG_BYTES) return false;
  let expected: Uint8Array;
  try {
    expected = pinTag(claimSecret, lockId, authorityPub);
  } catch {
    return false;
  }
  return timingSafeEqual(expected, tag);
}
