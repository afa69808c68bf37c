import type { Ed25519Backend } from "../crypto/ed25519.js";
import type { NonceBook } from "./nonce.js";
import { verifyUnlockProof } from "./proof.js";
import { type VerifyKeyTokenOptions, type VerifyKeyTokenResult, verifyKeyToken } from "./verify.js";

export interface UnlockRequest {
  token: Uint8Array;
  proof: Uint8Array;
  nonce: Uint8Array;
}

/**
 * The whole decision a lock makes on an unlock request: the nonce is consumed first (so every attempt burns it,
 * accepted or not), then the token is verified, then the proof of possession. A stale, unknown or reused nonce and a
 * wrong proof are all `bad_proof`.
 */
export function verifyUnlockRequest(
  request: UnlockRequest,
  options: VerifyKeyTokenOptions & { nonces: NonceBook; nowMs: number; backend?: Ed25519Backend },
): VerifyKeyTokenResult {
  const nonceState = options.nonces.consume(request.nonce, options.nowMs);
  const verdict = verifyKeyToken(request.token, options);
  if (!verdict.ok) return verdict;
  if (nonceState !== "ok") {
    return {
      ok: false,
      code: "bad_proof",
      message: nonceState === "expired" ? "the challenge expired" : "unknown or reused challenge",
    };
  }
  const proven = verifyUnlockProof(
    {
      lockId: options.lockId,
      nonce: request.nonce,
      token: request.token,
      proof: request.proof,
      devicePublicKey: verdict.claims.cnf,
    },
    options.backend,
  );
  if (!proven) return { ok: false, code: "bad_proof", message: "the proof of possession does not verify" };
  return verdict;
}
