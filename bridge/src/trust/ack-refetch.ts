/**
 * After the cloud accepted a lock's events, its signed state carries a new `ack` (docs/trust.md "Cloud"), and only
 * that frees the lock's events: the bridge fetches the state again so the lock gets it without waiting for the hourly
 * round (docs/mqtt.md "Reports and keys": not for telemetry or `state_applied`, see Uploader). Coalesced and bounded: at most one fetch per lock per `intervalMs` (10 s); a lock whose reports are accepted
 * again inside the interval is fetched once when it ends, whatever the number of batches meanwhile.
 */
export class AckRefetch {
  private readonly last = new Map<string, number>();
  private readonly due = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    /** Monotonic milliseconds. */
    private readonly now: () => number,
    private readonly fetch: (lockIds: string[]) => void,
  ) {}

  /** These locks had reports accepted. */
  accepted(lockIds: Iterable<string>): void {
    if (this.stopped) return;
    const now = this.now();
    const go: string[] = [];
    for (const id of lockIds) {
      const last = this.last.get(id);
      if (last === undefined || now - last >= this.intervalMs) {
        this.last.set(id, now);
        this.due.delete(id);
        go.push(id);
      } else if (!this.due.has(id)) this.due.set(id, last + this.intervalMs);
    }
    if (go.length > 0) this.fetch(go);
    this.arm();
  }

  /** Fetches the deferred locks whose interval has passed (the timer calls it; tests with a manual clock too). */
  flush(): void {
    if (this.stopped) return;
    const now = this.now();
    const go: string[] = [];
    for (const [id, at] of this.due) {
      if (at > now) continue;
      this.due.delete(id);
      this.last.set(id, now);
      go.push(id);
    }
    // Forget locks with nothing due whose interval has passed: one small entry per recently accepted lock at most.
    for (const [id, at] of this.last) if (now - at >= this.intervalMs && !this.due.has(id)) this.last.delete(id);
    if (go.length > 0) this.fetch(go);
    this.arm();
  }

  /** Locks waiting for their interval to pass. */
  get deferred(): number {
    return this.due.size;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.due.clear();
  }

  private arm(): void {
    if (this.due.size === 0 || this.stopped) return;
    let next = Number.POSITIVE_INFINITY;
    for (const at of this.due.values()) next = Math.min(next, at);
    if (this.timer && this.timerAt <= next) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.flush();
      },
      Math.max(0, next - this.now()),
    );
    this.timer.unref();
  }
}
