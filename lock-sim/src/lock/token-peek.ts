import {
  type CborValue,
  ClaimLabel,
  CTI_BYTES,
  decodeSign1,
  decodeStrict,
  isValidLockId,
  MAX_TOKEN_BYTES,
} from "@latchkey/protocol";

/**
 * Reads one claim of a token without trusting it. Used only to name things: the key id (cti) a denial event reports,
 * and the lock a phone files a token under before verifying it for that lock. Every decision that matters is made by
 * protocol's verification; protocol has no public unverified-claims reader, so this small one lives here.
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
