import { decodeStrict } from "../cbor/strict-decode.js";
import type { CborValue } from "../cbor/tag.js";
import { decodeSign1 } from "../cose/sign1.js";
import { isValidLockId } from "../messages/fields.js";
import { ClaimLabel, CTI_BYTES, MAX_TOKEN_BYTES } from "./claims.js";

/**
 * Reads one claim of a token without trusting it. Used only to name things: the key id (cti) a denial event reports,
 * and the lock a phone files a token under before verifying it for that lock. Every decision that matters is made by
 * protocol's verification, never by these.
 */
function peekClaim(token: Uint8Array, label: number): CborValue | undefined {
  try {
    if (!(token instanceof Uint8Array) || token.length > MAX_TOKEN_BYTES) return undefined;
    const sign1 = decodeSign1(token, { maxBytes: MAX_TOKEN_BYTES });
    const claims = decodeStrict(sign1.payload, { maxBytes: MAX_TOKEN_BYTES });
    return claims instanceof Map ? claims.get(label) : undefined;
  } catch {
    return undefined;
  }
}

export function peekCti(token: Uint8Array): Uint8Array | undefined {
  const cti = peekClaim(token, ClaimLabel.cti);
  return cti instanceof Uint8Array && cti.length === CTI_BYTES ? cti : undefined;
}

export function peekAudience(token: Uint8Array): string | undefined {
  const aud = peekClaim(token, ClaimLabel.aud);
  return isValidLockId(aud) ? aud : undefined;
}
