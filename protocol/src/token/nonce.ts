import { toHex } from "../bytes.js";
import { NONCE_BYTES } from "./proof.js";

/** How long a challenge nonce may be answered, in milliseconds (docs/design.md section 2). */
export const NONCE_TTL_MS = 30_000;

/** Outstanding challenges a lock keeps at most (docs/mqtt.md, "BLE"). */
export const NONCE_BOOK_CAPACITY = 64;

export type NonceCheck = "ok" | "unknown" | "expired";

/** A consumed nonce and, when the book knew it, when it was issued (a time request measures its round trip by it). */
export interface NonceTaken {
  state: NonceCheck;
  issuedAtMs?: number;
}

/**
 * Why a challenge was not issued: `book_full` (the book holds `capacity` live nonces), `holder_limit` (this holder,
 * e.g. one BLE connection, already holds its share of live nonces). Both answer the command with
 * `too_many_challenges`.
 */
export type NonceRefusal = "book_full" | "holder_limit";

export type NonceIssue = { ok: true; nonce: Uint8Array } | { ok: false; refusal: NonceRefusal };

/** Thrown by `issue` when the book refuses: callers that can answer a refusal use `offer`. */
export class NonceRefusedError extends Error {
  constructor(readonly refusal: NonceRefusal) {
    super(refusal === "book_full" ? "too many outstanding challenges" : "this holder has too many challenges");
    this.name = "NonceRefusedError";
  }
}

interface Outstanding {
  issuedAt: number;
  holder: string | undefined;
}

/**
 * The lock's book of outstanding challenges. Each nonce is answered at most once and within its lifetime. A live
 * nonce is never evicted to make room (review 12.8: whoever could ask for `capacity` challenges could otherwise void
 * a phone's pending one): a full book refuses new challenges until one is used or expires, a denial of service bounded
 * by the 30 s nonce life. A holder (one BLE connection) may be limited to a few live nonces, and forgotten as a whole
 * when it goes away. Time and randomness come from the caller: this is firmware logic with no clock of its own.
 */
export class NonceBook {
  private readonly outstanding = new Map<string, Outstanding>();

  constructor(
    private readonly ttlMs: number = NONCE_TTL_MS,
    private readonly capacity: number = NONCE_BOOK_CAPACITY,
  ) {}

  /**
   * Records `nonce` (16 fresh random bytes from the caller) as issued at `nowMs` to `holder`, unless the book is full
   * of live nonces or `holder` already has `holder.max` live ones.
   */
  offer(nonce: Uint8Array, nowMs: number, holder?: { id: string; max: number }): NonceIssue {
    if (nonce.length !== NONCE_BYTES) throw new TypeError(`nonce must be ${NONCE_BYTES} bytes`);
    this.prune(nowMs);
    if (this.outstanding.size >= this.capacity) return { ok: false, refusal: "book_full" };
    if (holder !== undefined && this.heldBy(holder.id) >= holder.max) return { ok: false, refusal: "holder_limit" };
    this.outstanding.set(toHex(nonce), { issuedAt: nowMs, holder: holder?.id });
    return { ok: true, nonce };
  }

  /** `offer` without a holder, for callers whose refusal is an error (a fresh book, a test). */
  issue(nonce: Uint8Array, nowMs: number): Uint8Array {
    const issued = this.offer(nonce, nowMs);
    if (!issued.ok) throw new NonceRefusedError(issued.refusal);
    return issued.nonce;
  }

  /** Consumes a nonce: whatever the answer, it can never be used again. */
  consume(nonce: Uint8Array, nowMs: number): NonceCheck {
    return this.take(nonce, nowMs).state;
  }

  /** `consume`, also answering when the nonce was issued. */
  take(nonce: Uint8Array, nowMs: number): NonceTaken {
    if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) return { state: "unknown" };
    const id = toHex(nonce);
    const entry = this.outstanding.get(id);
    if (entry === undefined) return { state: "unknown" };
    this.outstanding.delete(id);
    const issuedAtMs = entry.issuedAt;
    return { state: nowMs - issuedAtMs > this.ttlMs || nowMs < issuedAtMs ? "expired" : "ok", issuedAtMs };
  }

  /** Forgets every nonce of `holder` (its BLE connection closed: nobody can answer on it any more). */
  release(holderId: string): void {
    for (const [id, entry] of this.outstanding) if (entry.holder === holderId) this.outstanding.delete(id);
  }

  get size(): number {
    return this.outstanding.size;
  }

  private heldBy(holderId: string): number {
    let n = 0;
    for (const entry of this.outstanding.values()) if (entry.holder === holderId) n++;
    return n;
  }

  private prune(nowMs: number): void {
    for (const [id, entry] of this.outstanding) {
      if (nowMs - entry.issuedAt <= this.ttlMs) break;
      this.outstanding.delete(id);
    }
  }
}
