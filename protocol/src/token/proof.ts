import { createHash } from "node:crypto";
import { encodeCbor } from "../cbor/encode.js";
import { defaultEd25519, type Ed25519Backend, isStrongPublicKey } from "../crypto/ed25519.js";

/**
 * Proof of possession (docs/design.md section 2): the lock sends a fresh 16-byte nonce, the phone signs
 * `["latchkey-unlock-v1", lockId, nonce, sha256(token)]` with the device key named in the token's `cnf`.
 * Binding the token hash means a proof cannot be moved to another token; binding the lock id and the nonce
 * means it cannot be replayed at another lock or later.
 */
export const UNLOCK_PROOF_CONTEXT = "latchkey-unlock-v1";
export const NONCE_BYTES = 16;

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

export function unlockProofMessage(lockId: string, nonce: Uint8Array, token: Uint8Array): Uint8Array {
  return encodeCbor([UNLOCK_PROOF_CONTEXT, lockId, nonce, sha256(token)]);
}

export interface UnlockProofInput {
  lockId: string;
  nonce: Uint8Array;
  token: Uint8Array;
}

export function signUnlockProof(
  input: UnlockProofInput & { deviceSecretKey: Uint8Array },
  backend: Ed25519Backend = defaultEd25519,
): Uint8Array {
  if (input.nonce.length !== NONCE_BYTES) throw new TypeError(`nonce must be ${NONCE_BYTES} bytes`);
  return backend.sign(unlockProofMessage(input.lockId, input.nonce, input.token), input.deviceSecretKey);
}

/** True only for a valid signature by a strong (canonical, full-order) device key over this exact challenge. */
export function verifyUnlockProof(
  input: UnlockProofInput & { proof: Uint8Array; devicePublicKey: Uint8Array },
  backend: Ed25519Backend = defaultEd25519,
): boolean {
  if (!(input.proof instanceof Uint8Array) || !(input.nonce instanceof Uint8Array)) return false;
  if (input.nonce.length !== NONCE_BYTES || !isStrongPublicKey(input.devicePublicKey)) return false;
  return backend.verify(input.proof, unlockProofMessage(input.lockId, input.nonce, input.token), input.devicePublicKey);
}
