import type { NonceBook, NonceTaken } from "../token/nonce.js";
import { refuse } from "./document.js";

/** Consumes a lock nonce for a time answer or a command: unknown or reused is `bad_nonce`, too old `nonce_expired`. */
export function takeNonce(nonces: NonceBook, nonce: Uint8Array, nowMs: number): Required<NonceTaken> {
  const taken = nonces.take(nonce, nowMs);
  if (taken.state === "unknown") refuse("bad_nonce", "unknown or already used nonce");
  if (taken.state === "expired") refuse("nonce_expired", "the nonce expired");
  return taken as Required<NonceTaken>;
}
