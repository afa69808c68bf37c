import { encodeCbor } from "../cbor/encode.js";
import { decodeStrict } from "../cbor/strict-decode.js";
import type { Ed25519Backend } from "../crypto/ed25519.js";
import { ProtocolError } from "../errors.js";
import { isValidLockId } from "../messages/fields.js";
import type { NonceBook } from "../token/nonce.js";
import { NONCE_BYTES } from "../token/proof.js";
import { openSmallDocument, refuse, settle, signClaims, type TrustVerdict } from "./document.js";
import { TimeAnswerLabel, TimeRequestLabel, TrustTyp } from "./labels.js";
import { takeNonce } from "./nonce-check.js";

/**
 * Signed time (docs/design.md section 7, docs/trust.md "Time"), after Roughtime: the lock sends a fresh nonce from its
 * time nonce book, the cloud answers a COSE_Sign1 by the lock holder's authority over (lock, nonce, time), and the lock
 * takes it only for its own unexpired nonce, within the round-trip cap, and never below its applied state's iat.
 */
export const MAX_TIME_RTT_MS = 5_000;

export interface TimeRequest {
  lock: string;
  nonce: Uint8Array;
}

/** The request a lock sends (unsigned: a courier can only drop or delay it, and the answer is bound to the nonce). */
export function encodeTimeRequest(request: TimeRequest): Uint8Array {
  if (!isValidLockId(request.lock)) throw new TypeError("lock must be a valid lock id");
  if (!(request.nonce instanceof Uint8Array) || request.nonce.length !== NONCE_BYTES) {
    throw new TypeError(`nonce must be ${NONCE_BYTES} bytes`);
  }
  return encodeCbor(
    new Map<number, unknown>([
      [TimeRequestLabel.lock, request.lock],
      [TimeRequestLabel.nonce, request.nonce],
    ]),
  );
}

/** The cloud's side; throws ProtocolError(`invalid_message`) for a request out of shape. */
export function decodeTimeRequest(bytes: Uint8Array): TimeRequest {
  const value = decodeStrict(bytes, { maxBytes: 128, maxDepth: 2 });
  const lock = value instanceof Map ? value.get(TimeRequestLabel.lock) : undefined;
  const nonce = value instanceof Map ? value.get(TimeRequestLabel.nonce) : undefined;
  if (!isValidLockId(lock) || !(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) {
    throw new ProtocolError("invalid_message", "time request must be {1: lock id, 2: 16-byte nonce}");
  }
  return { lock, nonce: new Uint8Array(nonce) };
}

export interface TimeAnswer extends TimeRequest {
  /** The cloud's time, unix milliseconds. */
  time: number;
}

export function signTimeAnswer(answer: TimeAnswer, authoritySecret: Uint8Array, backend?: Ed25519Backend): Uint8Array {
  encodeTimeRequest(answer);
  if (!Number.isSafeInteger(answer.time) || answer.time < 0) throw new TypeError("time must be unix milliseconds");
  return signClaims(
    TrustTyp.timeAnswer,
    [
      [TimeAnswerLabel.lock, answer.lock],
      [TimeAnswerLabel.nonce, answer.nonce],
      [TimeAnswerLabel.time, answer.time],
    ],
    authoritySecret,
    backend,
  );
}

export interface VerifyTimeAnswerOptions {
  lockId: string;
  /** The pinned authority. */
  authority: Uint8Array;
  /** The lock's time nonce book (its own, not the phones' or the commands'). */
  nonces: NonceBook;
  /** The lock's local clock at receipt, in the milliseconds its nonce book was fed. */
  nowMs: number;
  /** The iat (unix seconds) of the state the lock has applied: an answer below it is refused. */
  stateIat?: number;
  /** Round-trip cap, ms (default 5 s). */
  maxRttMs?: number;
  backend?: Ed25519Backend;
}

export type VerifyTimeAnswerResult = TrustVerdict<{ time: number; rttMs: number }>;

export function verifyTimeAnswer(bytes: Uint8Array, options: VerifyTimeAnswerOptions): VerifyTimeAnswerResult {
  return settle(() => {
    const c = openSmallDocument(bytes, TrustTyp.timeAnswer, "time answer", options.authority, options.backend);
    const lock = c.text(TimeAnswerLabel.lock, "lock", 64);
    const nonce = c.bytes(TimeAnswerLabel.nonce, "nonce", NONCE_BYTES);
    const time = c.uint(TimeAnswerLabel.time, "time");
    if (lock !== options.lockId) refuse("wrong_lock", "the time answer is for another lock");
    const taken = takeNonce(options.nonces, nonce, options.nowMs);
    const rttMs = options.nowMs - taken.issuedAtMs;
    const cap = options.maxRttMs ?? MAX_TIME_RTT_MS;
    if (rttMs > cap) refuse("rtt_exceeded", `the answer took ${rttMs} ms, over the ${cap} ms cap`);
    if (options.stateIat !== undefined && time < options.stateIat * 1000) {
      refuse("time_behind_state", "the answer's time is before the applied state's iat");
    }
    return { time, rttMs };
  });
}
