import type { LockTime } from "./state-policy.js";

/**
 * The lock's idea of the time and how far it may be off (docs/design.md section 7, docs/trust.md "Time").
 *
 * The lock counts local milliseconds on an oscillator that drifts by at most `maxPpm`. A signed time answer sets the
 * clock to the cloud's time plus half the round trip, with an uncertainty of half the round trip (plus the drift over
 * it); from then on the uncertainty grows by `maxPpm` × the local time elapsed: `u = u0 + maxPpm × (local − anchor)`.
 * A state may move the clock forward to its `iat`, never back, and leaves `u` alone (true time is at least the iat,
 * so the old bound still holds). Until the first time answer the uncertainty is unbounded: every key fails closed.
 * Pure: the caller passes the local counter in.
 */
/** Covers ±2 min/day (1,389 ppm) with margin. */
export const DEFAULT_MAX_PPM = 2_000;

export class LockClock {
  /** Unix ms minus local ms; undefined while the clock was never set. */
  private offsetMs: number | undefined;
  private anchorLocalMs = 0;
  private baseUncertaintyMs = Number.POSITIVE_INFINITY;

  constructor(readonly maxPpm: number = DEFAULT_MAX_PPM) {
    if (!(maxPpm >= 0 && maxPpm < 1_000_000)) throw new TypeError("maxPpm must be from 0 to 1e6");
  }

  /** Whether a signed time answer has bounded the clock (only then can a key open). */
  get signed(): boolean {
    return Number.isFinite(this.baseUncertaintyMs);
  }

  /** Unix ms at local time `localMs`, or undefined when the clock was never set. */
  nowMs(localMs: number): number | undefined {
    return this.offsetMs === undefined ? undefined : localMs + this.offsetMs;
  }

  /** How far `nowMs` may be from true time, in ms; Infinity until the first signed time. */
  uncertaintyMs(localMs: number): number {
    if (!this.signed) return Number.POSITIVE_INFINITY;
    const elapsed = Math.max(0, localMs - this.anchorLocalMs);
    return this.baseUncertaintyMs + Math.ceil((this.maxPpm * elapsed) / 1_000_000);
  }

  /** Applies a verified time answer (`verifyTimeAnswer`): `timeMs` from the cloud, `rttMs` as the lock measured it. */
  applyTimeAnswer(timeMs: number, rttMs: number, localMs: number): void {
    const half = rttMs / 2;
    this.offsetMs = Math.round(timeMs + half) - localMs;
    this.anchorLocalMs = localMs;
    this.baseUncertaintyMs = Math.ceil(half + (this.maxPpm * rttMs) / 1_000_000) + 1;
  }

  /** Moves the clock forward to a verified state's `iat` (unix seconds), never back; answers whether it moved. */
  applyStateIat(iat: number, localMs: number): boolean {
    const iatMs = iat * 1000;
    const now = this.nowMs(localMs);
    if (now !== undefined && now >= iatMs) return false;
    this.offsetMs = iatMs - localMs;
    return true;
  }

  /**
   * The time to check key tokens with, in whole seconds, rounded so the check still fails closed (now floored,
   * uncertainty rounded up plus one second); undefined until a signed time answer (`clock_unset`).
   */
  tokenTime(localMs: number): LockTime | undefined {
    const now = this.nowMs(localMs);
    if (now === undefined || !this.signed) return undefined;
    return { now: Math.floor(now / 1000), uncertainty: Math.ceil(this.uncertaintyMs(localMs) / 1000) + 1 };
  }
}
