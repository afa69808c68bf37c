import { toHex } from "../bytes.js";
import { NONCE_BYTES } from "./proof.js";

/** How long a challenge nonce may be answered, in milliseconds (docs/design.md section 2). */
export const NONCE_TTL_MS = 30_000;

export type NonceCheck = "ok" | "unknown" | "expired";

/** A consumed nonce and, when the book knew it, when it was issued (a time request measures its round trip by it). */
export interface NonceTaken {
  state: NonceCheck;
  issuedAtMs?: number;
}

/**
 * The lock's book of outstanding challenges. Each nonce is answered at most once and within its lifetime; the book is
 * bounded so a flood of challenge requests cannot exhaust memory (the oldest outstanding nonce is forgotten first).
 * Time and randomness come from the caller: this is firmware logic with no clock of its own.
 */
export class NonceBook {
  private readonly outstanding = new Map<string, number>();

  constructor(
    private readonly ttlMs: number = NONCE_TTL_MS,
    private readonly capacity: number = 64,
  ) {}

  /** Records `nonce` (16 fresh random bytes from the caller) as issued at `nowMs`. */
  issue(nonce: Uint8Array, nowMs: number): Uint8Array {
    if (nonce.length !== NONCE_BYTES) throw new TypeError(`nonce must be ${NONCE_BYTES} bytes`);
    this.prune(nowMs);
    if (this.outstanding.size >= this.capacity) {
      const oldest = this.outstanding.keys().next().value;
      if (oldest !== undefined) this.outstanding.delete(oldest);
    }
    this.outstanding.set(toHex(nonce), nowMs);
    return nonce;
  }

  /** Consumes a nonce: whatever the answer, it can never be used again. */
  consume(nonce: Uint8Array, nowMs: number): NonceCheck {
    return this.take(nonce, nowMs).state;
  }

  /** `consume`, also answering when the nonce was issued. */
  take(nonce: Uint8Array, nowMs: number): NonceTaken {
    if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) return { state: "unknown" };
    const id = toHex(nonce);
    const issuedAtMs = this.outstanding.get(id);
    if (issuedAtMs === undefined) return { state: "unknown" };
    this.outstanding.delete(id);
    return { state: nowMs - issuedAtMs > this.ttlMs || nowMs < issuedAtMs ? "expired" : "ok", issuedAtMs };
  }

  get size(): number {
    return this.outstanding.size;
  }

  private prune(nowMs: number): void {
    for (const [id, issuedAt] of this.outstanding) {
      if (nowMs - issuedAt <= this.ttlMs) break;
      this.outstanding.delete(id);
    }
  }
}
