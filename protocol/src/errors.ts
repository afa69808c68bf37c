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
  | "no_timezone"
  | "outside_schedule"
  | "bad_proof";

/** Codes for lock messages and BLE frames that are not key tokens. */
export type MessageErrorCode = "malformed" | "invalid_message" | "too_large" | "unknown_type";

/**
 * Codes for report keys (docs/reports.md): `weak_key` is an X25519 key or peer that cannot give a secret (wrong length,
 * or a low-order point whose shared secret is all zeros).
 */
export type ReportKeyErrorCode = "weak_key";

/**
 * Codes for the signed documents of end-to-end trust (docs/trust.md): setup codes, lock state, hand-over, time answers,
 * remote commands. `malformed`, `unsupported_alg`, `bad_signature`, `wrong_lock` and `too_large` keep the meaning they
 * have for key tokens and messages.
 */
export const TRUST_ERROR_CODES = [
  "malformed",
  "too_large",
  "too_deep",
  "unsupported_alg",
  "wrong_type",
  "wrong_authority",
  "bad_signature",
  "bad_pin",
  "bad_handover",
  "invalid_claims",
  "wrong_lock",
  "stale_version",
  "bad_nonce",
  "nonce_expired",
  "rtt_exceeded",
  "time_behind_state",
  "stale_counter",
  "bad_setup_code",
  "bad_checksum",
] as const;
export type TrustErrorCode = (typeof TRUST_ERROR_CODES)[number];

export type ProtocolErrorCode = TokenErrorCode | MessageErrorCode | ReportKeyErrorCode | TrustErrorCode;

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
