/**
 * Wakes long-polling change-feed requests when something was appended (in-process; a PostgreSQL version would use
 * LISTEN/NOTIFY). A waiter is told "something changed", then re-reads its own feed: no change data travels here.
 */
export class ChangeNotifier {
  private waiters = new Set<() => void>();
  private closed = false;

  notify(): void {
    const waiting = this.waiters;
    this.waiters = new Set();
    for (const wake of waiting) wake();
  }

  /** Resolves true on a change, false on timeout, abort or close. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.closed || timeoutMs <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (changed: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(onChange);
        signal?.removeEventListener("abort", onAbort);
        resolve(changed);
      };
      const onChange = () => done(!this.closed);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.waiters.add(onChange);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Releases every waiter (graceful shutdown must not wait out a 30 s long-poll). */
  close(): void {
    this.closed = true;
    this.notify();
  }

  get waiting(): number {
    return this.waiters.size;
  }
}
