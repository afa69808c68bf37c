/**
 * When a lock asks for signed time (docs/trust.md "Lock"): at every connect once an authority is pinned, and whenever
 * its clock has no signed time or may be more than a minute off (TrustEngine.needsTime, looked at on every tick, so at
 * least hourly on any firmware that ticks). An answer is good only for its own nonce (30 s), so a request that went
 * unanswered is asked again, first after 30 s, then twice as long each time up to an hour: a site whose cloud is
 * away is not flooded with requests it cannot answer. An accepted answer or a new connection starts over.
 */
export const FIRST_TIME_RETRY_MS = 30_000;
export const MAX_TIME_RETRY_MS = 3_600_000;

export class TimeRequestSchedule {
  private nextAtMs = Number.NEGATIVE_INFINITY;
  private retryMs = FIRST_TIME_RETRY_MS;

  /** A new connection (or an accepted answer): the next request may go at once. */
  reset(): void {
    this.nextAtMs = Number.NEGATIVE_INFINITY;
    this.retryMs = FIRST_TIME_RETRY_MS;
  }

  /** Whether to ask now, at local time `localMs`, when the clock `needed` it; a yes books the retry after it. */
  due(localMs: number, needed: boolean): boolean {
    if (!needed) {
      this.reset();
      return false;
    }
    if (localMs < this.nextAtMs) return false;
    this.nextAtMs = localMs + this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, MAX_TIME_RETRY_MS);
    return true;
  }
}
