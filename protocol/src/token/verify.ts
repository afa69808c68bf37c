import { toHex } from "../bytes.js";
import { decodeStrict } from "../cbor/strict-decode.js";
import type { CborKey, CborValue } from "../cbor/tag.js";
import { Alg, decodeSign1, HeaderLabel, type Sign1, verifySign1Signature } from "../cose/sign1.js";
import { defaultEd25519, type Ed25519Backend } from "../crypto/ed25519.js";
import { ProtocolError, type TokenErrorCode } from "../errors.js";
import {
  ClaimLabel,
  CNF_COSE_KEY,
  CoseKeyLabel,
  CRV_ED25519,
  CTI_BYTES,
  DEFAULT_LEEWAY_SECONDS,
  KEY_TOKEN_TYP,
  type KeyClaims,
  KTY_OKP,
  MAX_TOKEN_BYTES,
} from "./claims.js";
import { decodeSchedule, isValidTimeZone, SCHEDULE_HEADER_LABEL, scheduleAllows } from "./schedule.js";
import type { RevocationList, TrustStore } from "./trust.js";

export interface VerifyKeyTokenOptions {
  trust: TrustStore;
  /** The id of the lock doing the verification: `aud` must equal it. */
  lockId: string;
  /** The verifier's current time, unix seconds. */
  now: number;
  leeway?: number;
  /**
   * How far, in seconds, the verifier's clock may be from true time (docs/trust.md "Time"): `exp` is checked against
   * now + uncertainty and `nbf` against now − uncertainty, so a doubtful clock fails closed. Default 0.
   */
  uncertainty?: number;
  revoked?: RevocationList;
  /** The lock's IANA time zone (its signed state's `tz`): recurring keys are read in it and refused without it. */
  timeZone?: string;
  backend?: Ed25519Backend;
}

export type VerifyKeyTokenResult =
  | { ok: true; claims: KeyClaims; kid: Uint8Array }
  | { ok: false; code: TokenErrorCode; message: string };

/** Header labels this verifier understands, so a `crit` listing only these is acceptable. */
const UNDERSTOOD_LABELS = new Set<CborKey>([HeaderLabel.alg, HeaderLabel.kid, HeaderLabel.typ, SCHEDULE_HEADER_LABEL]);

class Rejection {
  constructor(
    readonly code: TokenErrorCode,
    readonly message: string,
  ) {}
}

function reject(code: TokenErrorCode, message: string): never {
  throw new Rejection(code, message);
}

/** Structure: everything that makes a token `malformed`, checked before any key is looked up. */
function parseStructure(token: Uint8Array): { sign1: Sign1; claims: Map<CborKey, CborValue> } {
  if (!(token instanceof Uint8Array)) reject("malformed", "token is not a byte array");
  if (token.length > MAX_TOKEN_BYTES) reject("malformed", `token is ${token.length} bytes, over ${MAX_TOKEN_BYTES}`);
  const sign1 = decodeSign1(token, { maxBytes: MAX_TOKEN_BYTES });
  for (const label of sign1.unprotectedHeader.keys()) {
    // alg there is an algorithm policy failure, reported by checkHeader; anything else there is out of shape.
    if (label !== HeaderLabel.alg) reject("malformed", "the unprotected header must be empty");
  }
  const claims = decodeStrict(sign1.payload, { maxBytes: MAX_TOKEN_BYTES });
  if (!(claims instanceof Map)) reject("malformed", "payload is not a CWT claims map");
  return { sign1, claims };
}

/** Algorithm and header policy: `unsupported_alg`. */
function checkHeader(sign1: Sign1): Uint8Array | undefined {
  const header = sign1.protectedHeader;
  if (sign1.unprotectedHeader.has(HeaderLabel.alg)) {
    reject("unsupported_alg", "alg must be in the protected header, not the unprotected one");
  }
  const alg = header.get(HeaderLabel.alg);
  if (alg === undefined) reject("unsupported_alg", "alg is missing from the protected header");
  if (alg !== Alg.EdDSA && alg !== Alg.Ed25519)
    reject("unsupported_alg", `alg ${String(alg)} is not EdDSA (-8) or Ed25519 (-19)`);
  const crit = header.get(HeaderLabel.crit);
  if (crit !== undefined) {
    if (!Array.isArray(crit) || crit.length === 0)
      reject("unsupported_alg", "crit must be a non-empty array of labels");
    for (const label of crit) {
      if (!UNDERSTOOD_LABELS.has(label as CborKey))
        reject("unsupported_alg", `critical header ${String(label)} is not understood`);
    }
  }
  const typ = header.get(HeaderLabel.typ);
  if (typ !== KEY_TOKEN_TYP) reject("unsupported_alg", `typ must be "${KEY_TOKEN_TYP}"`);
  // A schedule counts only when it is critical, and critical only when present: either half alone is a forgery's
  // shape (a schedule an older lock would ignore, or a promise of one that is not there).
  const critical = Array.isArray(crit) && crit.includes(SCHEDULE_HEADER_LABEL);
  if (critical !== header.has(SCHEDULE_HEADER_LABEL))
    reject("malformed", `the schedule (${SCHEDULE_HEADER_LABEL}) must be in the protected header and listed in crit`);
  const kid = header.get(HeaderLabel.kid);
  return kid instanceof Uint8Array ? kid : undefined;
}

function text(claims: Map<CborKey, CborValue>, label: number, name: string): string {
  const v = claims.get(label);
  if (typeof v !== "string" || v.length === 0)
    reject("missing_claim", `claim ${name} (${label}) must be non-empty text`);
  return v;
}

function seconds(claims: Map<CborKey, CborValue>, label: number, name: string): number {
  const v = claims.get(label);
  if (typeof v !== "number" || !Number.isSafeInteger(v))
    reject("missing_claim", `claim ${name} (${label}) must be an integer`);
  return v;
}

function deviceKey(claims: Map<CborKey, CborValue>): Uint8Array {
  const cnf = claims.get(ClaimLabel.cnf);
  const coseKey = cnf instanceof Map ? cnf.get(CNF_COSE_KEY) : undefined;
  if (!(coseKey instanceof Map)) reject("missing_claim", "claim cnf (8) must hold a COSE_Key under label 1");
  const x = coseKey.get(CoseKeyLabel.x);
  if (coseKey.get(CoseKeyLabel.kty) !== KTY_OKP || coseKey.get(CoseKeyLabel.crv) !== CRV_ED25519) {
    reject("missing_claim", "claim cnf (8) must be an OKP Ed25519 key");
  }
  if (!(x instanceof Uint8Array) || x.length !== 32) reject("missing_claim", "claim cnf (8) key x must be 32 bytes");
  return x;
}

function readClaims(claims: Map<CborKey, CborValue>): KeyClaims {
  const cti = claims.get(ClaimLabel.cti);
  const parsed: KeyClaims = {
    iss: text(claims, ClaimLabel.iss, "iss"),
    sub: text(claims, ClaimLabel.sub, "sub"),
    aud: text(claims, ClaimLabel.aud, "aud"),
    exp: seconds(claims, ClaimLabel.exp, "exp"),
    nbf: seconds(claims, ClaimLabel.nbf, "nbf"),
    iat: seconds(claims, ClaimLabel.iat, "iat"),
    cti: cti instanceof Uint8Array ? cti : new Uint8Array(0),
    cnf: deviceKey(claims),
  };
  if (!(cti instanceof Uint8Array) || cti.length !== CTI_BYTES)
    reject("missing_claim", `claim cti (7) must be ${CTI_BYTES} bytes`);
  return parsed;
}

function isRevoked(list: RevocationList | undefined, claims: KeyClaims): boolean {
  if (list === undefined) return false;
  const ctiHex = toHex(claims.cti);
  return list.revokes ? list.revokes(ctiHex, claims.iat) : list.has(ctiHex);
}

/**
 * Verifies a key token at a lock, in the order of docs/design.md section 2; the first failure wins and is reported with
 * its code. Never throws: any input, however hostile, yields `{ok: false, code, message}`.
 */
export function verifyKeyToken(token: Uint8Array, options: VerifyKeyTokenOptions): VerifyKeyTokenResult {
  try {
    const { sign1, claims } = parseStructure(token);
    const kid = checkHeader(sign1);
    if (kid === undefined) reject("unknown_issuer", "kid is missing from the protected header");
    const issuerKey = options.trust.get(kid);
    if (issuerKey === undefined) reject("unknown_issuer", `issuer key ${toHex(kid)} is not trusted`);
    if (!verifySign1Signature(sign1, issuerKey, undefined, options.backend ?? defaultEd25519)) {
      reject("bad_signature", "signature does not verify under the issuer key");
    }
    const parsed = readClaims(claims);
    if (sign1.protectedHeader.has(SCHEDULE_HEADER_LABEL))
      parsed.sched = decodeSchedule(sign1.protectedHeader.get(SCHEDULE_HEADER_LABEL));
    if (parsed.aud !== options.lockId) reject("wrong_lock", "the key is for another lock");
    const leeway = options.leeway ?? DEFAULT_LEEWAY_SECONDS;
    const u = options.uncertainty ?? 0;
    if (!(u >= 0)) reject("expired", "the clock's uncertainty is unknown");
    if (options.now - u < parsed.nbf - leeway) reject("not_yet_valid", "the key is not valid yet");
    if (options.now + u >= parsed.exp + leeway) reject("expired", "the key has expired");
    if (isRevoked(options.revoked, parsed)) reject("revoked", "the key has been revoked");
    if (parsed.sched !== undefined) {
      // The schedule is read in the lock's zone; without one (or with one this lock cannot read) there is no
      // "Tuesday" to compare with, so the key is refused rather than judged in UTC.
      if (!isValidTimeZone(options.timeZone))
        reject("no_timezone", "a recurring key needs the lock's time zone (tz in its signed state)");
      if (!scheduleAllows(parsed.sched, options.timeZone, options.now, u))
        reject("outside_schedule", "the key's schedule does not allow this time");
    }
    return { ok: true, claims: parsed, kid };
  } catch (e) {
    if (e instanceof Rejection) return { ok: false, code: e.code, message: e.message };
    if (e instanceof ProtocolError) return { ok: false, code: "malformed", message: e.message };
    // Nothing else is expected; if it happens the answer is still no.
    return { ok: false, code: "malformed", message: "token could not be processed" };
  }
}
