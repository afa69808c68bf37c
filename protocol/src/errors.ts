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

export type ProtocolErrorCode = TokenErrorCode | MessageErrorCode;

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
