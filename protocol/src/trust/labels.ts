/**
 * The wire constants of end-to-end trust (docs/trust.md): one `typ` per document kind, so no signed document can pass
 * as another (docs/design.md section 7), the integer labels of each payload, and the size and depth caps a lock
 * applies before it checks any signature.
 */
export const TrustTyp = {
  state: "application/latchkey-state+cose",
  handOver: "application/latchkey-handover+cose",
  timeAnswer: "application/latchkey-time+cose",
  command: "application/latchkey-command+cose",
} as const;
export type TrustTypName = keyof typeof TrustTyp;

/**
 * Protected-header parameters of our own (RFC 9052 section 3.1: labels below -65536 are for private use). They ride in
 * the header, not the payload, because the lock must read them to choose the key before it parses anything signed.
 */
export const TrustHeaderLabel = { pinTag: -65537, handOver: -65538 } as const;

/** Signed lock state payload (docs/trust.md, "Signed lock state"). */
export const StateLabel = {
  lock: 1,
  v: 2,
  iat: 3,
  issuers: 4,
  revoked: 5,
  ack: 6,
  maxStale: 7,
  tz: 8,
  minIat: 9,
  reportKey: 10,
} as const;
export const IssuerLabel = { kid: 1, x: 2, notAfter: 3 } as const;
export const RevokedLabel = { cti: 1, before: 2 } as const;
export const StateReportKeyLabel = { id: 1, x: 2 } as const;
export const HandOverLabel = { newKey: 1, fromV: 2 } as const;
export const TimeRequestLabel = { lock: 1, nonce: 2 } as const;
export const TimeAnswerLabel = { lock: 1, nonce: 2, time: 3 } as const;
export const CommandLabel = { lock: 1, nonce: 2, counter: 3, action: 4 } as const;

/** A whole state document, envelope included: one BLE transfer carries it (docs/design.md section 7). */
export const MAX_STATE_BYTES = 3584;
/** Hand-over, time answer, command: small fixed shapes. */
export const MAX_SMALL_DOCUMENT_BYTES = 512;
/** Deepest nesting any trust document needs (the state's issuer entries sit at depth 3 of the payload). */
export const MAX_TRUST_DEPTH = 6;
/** At most this many issuer keys in one state. */
export const MAX_STATE_ISSUERS = 16;
/** More revocations than fit in MAX_STATE_BYTES (about 160 do): the byte cap is the real bound. */
export const MAX_STATE_REVOCATIONS = 512;

export const AUTHORITY_KEY_BYTES = 32;
export const AGREEMENT_KEY_BYTES = 32;
export const CLAIM_SECRET_BYTES = 16;
export const PIN_TAG_BYTES = 32;
