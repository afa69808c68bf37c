/**
 * Exponential backoff with jitter: the n-th delay is drawn uniformly from [d/2, d] where d = min(max, initial·2^n),
 * so many bridges that lost the cloud at the same moment do not come back in lockstep, yet each waits at least
 * half the nominal delay. `random` returns [0, 1) and is injected so tests are deterministic.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const nominal = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(nominal / 2 + (this.random() * nominal) / 2);
  }

  get failures(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Where a loop's waits come from: the host's timers, or a test's. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * A waiting loop must never be what keeps a process alive: the process's sockets say whether it still has work, and a
 * test or a CLI that forgot to stop a loop still exits.
 */
const hostTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Waits `ms`, or less when `signal` aborts (resolves either way; callers check `signal.aborted`). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface ServiceLoopOptions {
  /**
   * One round of work. Resolves to how long (ms) until the next round, or to anything else (nothing) to wait for a
   * wake-up (at the latest `idleMs`). A throw is a failure: the next round comes after a backoff (or `idleMs` without one).
   * `signal` aborts when the loop stops (at once, or after `stop`'s grace).
   */
  round(signal: AbortSignal): Promise<unknown>;
  /** The longest wait for a wake-up between rounds (default: no limit, only `wake()` starts the next round). */
  idleMs?: number;
  /** After a wake-up, wait this long before the round, so a burst of wake-ups makes one round (default 0). */
  settleMs?: number;
  /** Failed rounds wait this backoff, which a wake-up does not cut short; without it they wait `idleMs`. */
  backoff?: Backoff;
  /** A failed round, and how long until the next (not called for a failure caused by stopping). */
  onError?(err: unknown, retryInMs: number): void;
  timers?: Timers;
}

/**
 * The one shape of every background loop (docs/design.md section 7): one round at a time, the next when its delay
 * passes or when woken, failures backed off with jitter, stopped by aborting. A wake-up during a round is kept, so
 * the work that caused it is never missed.
 */
export class ServiceLoop {
  private readonly abort = new AbortController();
  private readonly timers: Timers;
  private loop: Promise<void> | null = null;
  private woken = false;
  private ending = false;
  /** Ends the wait in progress; `true` when a wake-up ended it. */
  private endWait: ((woken: boolean) => void) | null = null;
  private interruptible = false;

  constructor(private readonly options: ServiceLoopOptions) {
    this.timers = options.timers ?? hostTimers;
  }

  /** Starts the first round now; later calls do nothing. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Asks for a round soon; before `start()` or once stopping it does nothing. */
  wake(): void {
    if (!this.loop || this.ending) return;
    this.woken = true;
    if (this.interruptible) this.endWait?.(true);
  }

  /** Whether `stop()` was called: a round with more to do should give up at its next step. */
  get stopping(): boolean {
    return this.ending;
  }

  /** Failed rounds in a row (0 without a backoff). */
  get failures(): number {
    return this.options.backoff?.failures ?? 0;
  }

  /**
   * Starts no new round and resolves when the one in progress ended. Without `graceMs` the round's signal aborts now;
   * with it, the round may finish on its own until then.
   */
  async stop(graceMs?: number): Promise<void> {
    this.ending = true;
    this.endWait?.(false);
    if (graceMs === undefined) {
      this.abort.abort();
      await this.loop;
      return;
    }
    const timer = this.timers.setTimeout(() => this.abort.abort(), graceMs);
    try {
      await this.loop;
    } finally {
      this.timers.clearTimeout(timer);
    }
  }

  private async run(): Promise<void> {
    const { round, idleMs = Number.POSITIVE_INFINITY, settleMs = 0, backoff, onError } = this.options;
    const signal = this.abort.signal;
    while (!this.ending) {
      // A wake-up before the round started is served by it.
      this.woken = false;
      let delay: number;
      let interruptible = true;
      try {
        const next = await round(signal);
        backoff?.reset();
        delay = typeof next === "number" ? next : idleMs;
      } catch (err) {
        if (this.ending || signal.aborted) break;
        delay = backoff ? backoff.next() : idleMs;
        interruptible = !backoff;
        try {
          onError?.(err, delay);
        } catch {
          // a failing error report must not end the loop
        }
      }
      if (this.ending) break;
      const woken = await this.wait(delay, interruptible);
      if (woken && settleMs > 0) await this.wait(settleMs, false);
    }
  }

  /** Waits `ms` (no limit when infinite); a wake-up ends an interruptible wait early, one already made at once. */
  private wait(ms: number, interruptible: boolean): Promise<boolean> {
    if (this.ending) return Promise.resolve(false);
    if (interruptible && this.woken) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? this.timers.setTimeout(() => done(false), Math.max(0, ms)) : undefined;
      const done = (woken: boolean) => {
        if (timer !== undefined) this.timers.clearTimeout(timer);
        this.endWait = null;
        this.interruptible = false;
        resolve(woken);
      };
      this.endWait = done;
      this.interruptible = interruptible;
    });
  }
}
