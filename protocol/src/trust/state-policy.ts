import { toHex } from "../bytes.js";
import { DEFAULT_LEEWAY_SECONDS } from "../token/claims.js";
import { type RevocationList, TrustStore } from "../token/trust.js";
import type { SignedLockState } from "./state.js";

/**
 * What an applied state means for key tokens (docs/trust.md "Applying a state"): which tokens are revoked, which issuer
 * keys are still trusted, and whether the state is too old to open anything. Times are the lock's clock in unix
 * seconds with its uncertainty, so every doubt fails closed.
 */

/** The revocations of a state: `before` limits one key's revocation to older tokens; `minIat` refuses all older ones. */
export class StateRevocations implements RevocationList {
  private readonly before = new Map<string, number>();

  constructor(private readonly state: Pick<SignedLockState, "revoked" | "minIat">) {
    for (const r of state.revoked) {
      const id = toHex(r.cti);
      const limit = r.before ?? Number.POSITIVE_INFINITY;
      this.before.set(id, Math.max(limit, this.before.get(id) ?? limit));
    }
  }

  has(ctiHex: string): boolean {
    return this.before.has(ctiHex);
  }

  revokes(ctiHex: string, iat: number): boolean {
    if (this.state.minIat !== undefined && iat < this.state.minIat) return true;
    const limit = this.before.get(ctiHex);
    return limit !== undefined && iat < limit;
  }
}

export interface LockTime {
  /** The lock's clock, unix seconds. */
  now: number;
  /** Seconds the clock may be off (LockClock.tokenTime). */
  uncertainty: number;
}

/**
 * The issuer keys still trusted: a key whose `notAfter` (+ leeway) may have passed on the lock's clock is dropped,
 * without waiting for a new document. Keys that are not valid Ed25519 points are dropped too.
 */
export function trustedIssuers(
  state: Pick<SignedLockState, "issuers">,
  time: LockTime,
  leeway = DEFAULT_LEEWAY_SECONDS,
): TrustStore {
  const store = new TrustStore();
  for (const issuer of state.issuers) {
    if (time.now + time.uncertainty >= issuer.notAfter + leeway) continue;
    try {
      store.add({ kid: issuer.kid, publicKey: issuer.x });
    } catch {
      // A key the store refuses is simply not trusted.
    }
  }
  return store;
}

/** With `maxStale`, whether the state may be older than allowed: the lock then opens nothing until a newer one. */
export function isStateStale(state: Pick<SignedLockState, "iat" | "maxStale">, time: LockTime): boolean {
  if (state.maxStale === undefined) return false;
  return time.now + time.uncertainty - state.iat > state.maxStale;
}
