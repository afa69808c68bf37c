/**
 * Every failure the protocol package reports carries a typed code, so callers branch on `code`,
 * never on message text. Token verification codes are the contract of docs/design.md section 2.
 */
export type TokenErrorCode =
  | "malformed"
  | "unsupported_alg"
  | "unknown_issuer"
  | "bad_signature"
  | "missing_claim"
  | "wrong_lock"
  | "not_yet_valid"
  | "expired"
  | "revoked"
  | "bad_proof";

/** Codes for lock messages and BLE frames that are not key tokens. */
export type MessageErrorCode = "malformed" | "invalid_message" | "too_large" | "unknown_type";

/**
 * Codes for report keys (docs/reports.md): `weak_key` is an X25519 key or peer that cannot give a secret (wrong length,
 * or a low-order point whose shared secret is all zeros).
 */
export type ReportKeyErrorCode = "weak_key";

export type ProtocolErrorCode = TokenErrorCode | MessageErrorCode | ReportKeyErrorCode;

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

export function isProtocolError(e: unknown): e is ProtocolError {
  return e instanceof ProtocolError;
}
