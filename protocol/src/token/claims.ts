import type { ScheduleWindow } from "./schedule.js";

/** The claims of a latchkey key token (CWT, RFC 8392), as docs/design.md section 2 fixes them. All eight are required. */
export interface KeyClaims {
  /** Issuer: who minted the key (the cloud's issuer name). */
  iss: string;
  /** Key holder: an E.164 phone number or an app user id. */
  sub: string;
  /** The one lock this key opens. */
  aud: string;
  /** Expiry, unix seconds: valid while now < exp (+ leeway). */
  exp: number;
  /** Not before, unix seconds. */
  nbf: number;
  /** Issued at, unix seconds. */
  iat: number;
  /** Key id: 16 bytes, the handle for revocation. */
  cti: Uint8Array;
  /** The holder device's Ed25519 public key (32 bytes): the proof of possession must be signed by it. */
  cnf: Uint8Array;
  /**
   * A recurring key's weekly windows in the lock's time zone. Not a CWT claim: it travels in the protected header,
   * listed in `crit`, so that a verifier that does not know it refuses the key instead of opening at any hour
   * (docs/design.md section 2 "Schedule").
   */
  sched?: ScheduleWindow[];
}

export const ClaimLabel = { iss: 1, sub: 2, aud: 3, exp: 4, nbf: 5, iat: 6, cti: 7, cnf: 8 } as const;

/** COSE_Key labels and values for an Ed25519 OKP key (RFC 9053). */
export const CoseKeyLabel = { kty: 1, crv: -1, x: -2 } as const;
export const KTY_OKP = 1;
export const CRV_ED25519 = 6;
/** Label of the COSE_Key inside `cnf` (RFC 8747). */
export const CNF_COSE_KEY = 1;

export const KEY_TOKEN_TYP = "application/latchkey-key+cwt";
export const MAX_TOKEN_BYTES = 2048;
export const CTI_BYTES = 16;
export const DEFAULT_LEEWAY_SECONDS = 60;
