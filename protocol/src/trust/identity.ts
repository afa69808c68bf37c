import { createHash, timingSafeEqual } from "node:crypto";
import { encodeCbor } from "../cbor/encode.js";
import { isValidLockId } from "../messages/fields.js";
import { AGREEMENT_KEY_BYTES, AUTHORITY_KEY_BYTES, CLAIM_SECRET_BYTES } from "./labels.js";

/**
 * A lock's identity (docs/design.md section 7, docs/trust.md "Lock identity"): the id and 128-bit claim secret it has
 * from manufacture, and the fingerprint of the two keys it makes at first boot. The cloud compares the fingerprint with
 * the keys the lock's first report carries, so a gateway cannot put its own keys in place of the lock's.
 */
export interface LockIdentity {
  lockId: string;
  /** 16 bytes, printed on the lock; the cloud learns it only from the Integrator API. */
  claimSecret: Uint8Array;
  /** `fingerprint(identityKey, agreementKey)`, 16 bytes. */
  fingerprint: Uint8Array;
}

export const FINGERPRINT_CONTEXT = "latchkey-lock-fp-v1";
export const FINGERPRINT_BYTES = 16;

export interface LockPublicKeys {
  /** The lock's Ed25519 identity public key. */
  identityKey: Uint8Array;
  /** The lock's X25519 public key (reports are MACed under a key agreed with it). */
  agreementKey: Uint8Array;
}

/** First 16 bytes of sha256(CBOR ["latchkey-lock-fp-v1", identityKey, agreementKey]). */
export function fingerprint(keys: LockPublicKeys): Uint8Array {
  if (!(keys.identityKey instanceof Uint8Array) || keys.identityKey.length !== AUTHORITY_KEY_BYTES) {
    throw new TypeError("identity key must be a 32-byte Ed25519 public key");
  }
  if (!(keys.agreementKey instanceof Uint8Array) || keys.agreementKey.length !== AGREEMENT_KEY_BYTES) {
    throw new TypeError("agreement key must be a 32-byte X25519 public key");
  }
  const digest = createHash("sha256")
    .update(encodeCbor([FINGERPRINT_CONTEXT, keys.identityKey, keys.agreementKey]))
    .digest();
  return new Uint8Array(digest.subarray(0, FINGERPRINT_BYTES));
}

/** Whether `keys` are the ones the setup code's fingerprint names; constant time. */
export function fingerprintMatches(expected: Uint8Array, keys: LockPublicKeys): boolean {
  let actual: Uint8Array;
  try {
    actual = fingerprint(keys);
  } catch {
    return false;
  }
  return expected instanceof Uint8Array && expected.length === actual.length && timingSafeEqual(expected, actual);
}

export function checkIdentity(identity: LockIdentity): void {
  if (!isValidLockId(identity.lockId)) throw new TypeError(`lock id "${String(identity.lockId)}" is not valid`);
  if (!(identity.claimSecret instanceof Uint8Array) || identity.claimSecret.length !== CLAIM_SECRET_BYTES) {
    throw new TypeError(`claim secret must be ${CLAIM_SECRET_BYTES} bytes`);
  }
  if (!(identity.fingerprint instanceof Uint8Array) || identity.fingerprint.length !== FINGERPRINT_BYTES) {
    throw new TypeError(`fingerprint must be ${FINGERPRINT_BYTES} bytes`);
  }
}
