import { labelledMap } from "../cbor/labelled.js";
import type { Ed25519Backend } from "../crypto/ed25519.js";
import { ProtocolError } from "../errors.js";
import { isValidLockId } from "../messages/fields.js";
import { CTI_BYTES } from "../token/claims.js";
import { type Claims, signDocument } from "./document.js";
import {
  AGREEMENT_KEY_BYTES,
  IssuerLabel,
  MAX_STATE_BYTES,
  MAX_STATE_ISSUERS,
  MAX_STATE_REVOCATIONS,
  PIN_TAG_BYTES,
  RevokedLabel,
  StateLabel,
  StateReportKeyLabel,
  TrustHeaderLabel,
  TrustTyp,
} from "./labels.js";

/**
 * The signed lock state (docs/design.md section 7, docs/trust.md "Signed lock state"): the whole of what a lock must
 * know, signed by its lock holder's authority, one document per lock, replacing the unsigned `sync`.
 */
export interface StateIssuer {
  kid: Uint8Array;
  /** Ed25519 public key of the issuer. */
  x: Uint8Array;
  /** Unix seconds: after it (+ leeway) the lock stops trusting the key without any new document. */
  notAfter: number;
}

export interface StateRevocation {
  cti: Uint8Array;
  /** Revoke only tokens of this key with `iat` < before (unix seconds); absent: every token of the key. */
  before?: number;
}

/** The cloud's X25519 key the lock MACs its reports to (docs/design.md section 7, "Reports from the lock"). */
export interface StateReportKey {
  id: Uint8Array;
  x: Uint8Array;
}

export interface SignedLockState {
  lock: string;
  /** New for every signature: max(previous + 1, cloud time in ms). */
  v: number;
  /** Unix seconds the cloud signed it. */
  iat: number;
  issuers: StateIssuer[];
  revoked: StateRevocation[];
  /** The highest event seq the cloud has stored: the lock frees its events up to here. */
  ack: number;
  /** Seconds: with it, the lock fails closed once its newest state's iat is older than this. */
  maxStale?: number;
  /** The lock's IANA time zone. */
  tz?: string;
  /** Unix seconds: tokens issued before it are refused (when the revocations would not fit). */
  minIat?: number;
  reportKey: StateReportKey;
}

export const MAX_KID_BYTES = 64;
export const MAX_REPORT_KEY_ID_BYTES = 32;
export const MAX_TZ_LENGTH = 64;

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new TypeError(message);
}

const isUint = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
const isBytes = (b: unknown, min: number, max: number): b is Uint8Array =>
  b instanceof Uint8Array && b.length >= min && b.length <= max;

function checkState(state: SignedLockState): void {
  check(isValidLockId(state.lock), "lock must be a valid lock id");
  check(isUint(state.v) && state.v >= 1, "v must be a safe integer >= 1");
  check(isUint(state.iat), "iat must be a safe integer");
  check(isUint(state.ack), "ack must be a safe integer");
  check(state.issuers.length <= MAX_STATE_ISSUERS, `at most ${MAX_STATE_ISSUERS} issuers`);
  for (const i of state.issuers) {
    check(isBytes(i.kid, 1, MAX_KID_BYTES) && isBytes(i.x, 32, 32) && isUint(i.notAfter), "issuer of the wrong shape");
  }
  for (const r of state.revoked) {
    check(
      isBytes(r.cti, CTI_BYTES, CTI_BYTES) && (r.before === undefined || isUint(r.before)),
      "revocation of the wrong shape",
    );
  }
  for (const name of ["maxStale", "minIat"] as const) {
    check(state[name] === undefined || isUint(state[name]), `${name} must be a safe integer`);
  }
  check(
    state.tz === undefined || (typeof state.tz === "string" && state.tz.length > 0 && state.tz.length <= MAX_TZ_LENGTH),
    "tz",
  );
  check(
    isBytes(state.reportKey.id, 1, MAX_REPORT_KEY_ID_BYTES) &&
      isBytes(state.reportKey.x, AGREEMENT_KEY_BYTES, AGREEMENT_KEY_BYTES),
    "reportKey must be {id: 1-32 bytes, x: 32 bytes}",
  );
}

export function encodeStatePayload(state: SignedLockState): Map<number, unknown> {
  return labelledMap(StateLabel, {
    ...state,
    issuers: state.issuers.map((i) => labelledMap(IssuerLabel, i)),
    revoked: state.revoked.map((r) => labelledMap(RevokedLabel, r)),
    reportKey: labelledMap(StateReportKeyLabel, state.reportKey),
  });
}

export interface SignLockStateOptions {
  /** The lock holder's authority secret key. */
  secretKey: Uint8Array;
  /** `pinTag(claimSecret, lock, authorityPub)`: lets an unpinned lock pin this authority. */
  pinTag?: Uint8Array;
  /** A hand-over signed by the previous authority to this one (`signHandOver`). */
  handOver?: Uint8Array;
  backend?: Ed25519Backend;
}

/**
 * Signs a state. Throws TypeError for a state of the wrong shape and ProtocolError(`too_large`) when the document
 * would exceed MAX_STATE_BYTES: the cloud then sets `minIat` and drops revocations it makes redundant.
 */
export function signLockState(state: SignedLockState, options: SignLockStateOptions): Uint8Array {
  checkState(state);
  const header = new Map<number, unknown>();
  if (options.pinTag !== undefined) {
    check(isBytes(options.pinTag, PIN_TAG_BYTES, PIN_TAG_BYTES), "pinTag must be 32 bytes");
    header.set(TrustHeaderLabel.pinTag, options.pinTag);
  }
  if (options.handOver !== undefined) {
    check(options.handOver instanceof Uint8Array, "handOver must be the signed hand-over bytes");
    header.set(TrustHeaderLabel.handOver, options.handOver);
  }
  const bytes = signDocument({
    typ: TrustTyp.state,
    payload: encodeStatePayload(state),
    secretKey: options.secretKey,
    header,
    backend: options.backend,
  });
  if (bytes.length > MAX_STATE_BYTES) {
    throw new ProtocolError("too_large", `state is ${bytes.length} bytes, over the cap of ${MAX_STATE_BYTES}`);
  }
  return bytes;
}

/** Reads a verified payload into a SignedLockState; every field out of shape is `invalid_claims`. */
export function readState(c: Claims): SignedLockState {
  const issuers = c.eachMap(StateLabel.issuers, "issuers", MAX_STATE_ISSUERS, (i) => ({
    kid: i.bytes(IssuerLabel.kid, "kid", 1, MAX_KID_BYTES),
    x: i.bytes(IssuerLabel.x, "x", 32),
    notAfter: i.uint(IssuerLabel.notAfter, "notAfter"),
  }));
  const revoked = c.eachMap(StateLabel.revoked, "revoked", MAX_STATE_REVOCATIONS, (r) => {
    const entry: StateRevocation = { cti: r.bytes(RevokedLabel.cti, "cti", CTI_BYTES) };
    if (r.has(RevokedLabel.before)) entry.before = r.uint(RevokedLabel.before, "before");
    return entry;
  });
  const lock = c.get(StateLabel.lock);
  if (!isValidLockId(lock)) c.fail("lock", "a valid lock id");
  const rk = c.nested(c.get(StateLabel.reportKey), "reportKey");
  const reportId = rk.bytes(StateReportKeyLabel.id, "id", 1, MAX_REPORT_KEY_ID_BYTES);
  const state: SignedLockState = {
    lock,
    v: c.uint(StateLabel.v, "v", 1),
    iat: c.uint(StateLabel.iat, "iat"),
    issuers,
    revoked,
    ack: c.uint(StateLabel.ack, "ack"),
    reportKey: { id: reportId, x: rk.bytes(StateReportKeyLabel.x, "x", AGREEMENT_KEY_BYTES) },
  };
  if (c.has(StateLabel.maxStale)) state.maxStale = c.uint(StateLabel.maxStale, "maxStale");
  if (c.has(StateLabel.tz)) state.tz = c.text(StateLabel.tz, "tz", MAX_TZ_LENGTH);
  if (c.has(StateLabel.minIat)) state.minIat = c.uint(StateLabel.minIat, "minIat");
  return state;
}
