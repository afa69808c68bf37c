import { setTimeout as sleep } from "node:timers/promises";

/** Raised when a condition did not come true in time; names what was awaited and the last failure seen. */
export class PollTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly last: unknown,
  ) {
    super(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`);
    this.name = "PollTimeoutError";
  }
}

export interface PollOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** Pause between checks, default 50 ms. */
  intervalMs?: number;
  /** Stops waiting (rejecting with the signal's reason) when aborted. */
  signal?: AbortSignal;
  /** The clock the deadline is read from (default Date.now), for callers that run on an injected one. */
  now?: () => number;
}

/** What a check answers when it holds: anything but the falsy values that mean "not yet". */
export type Truthy<T> = Exclude<T, false | 0 | 0n | "" | null | undefined>;

/**
 * Checks `check` until it answers a truthy value and returns it. A check that throws counts as "not yet" (the error is
 * kept for the timeout message). Waiting for a condition, never for a fixed time.
 */
export async function pollUntil<T>(
  what: string,
  check: () => T | Promise<T>,
  options: PollOptions = {},
): Promise<Truthy<T>> {
  const now = options.now ?? Date.now;
  const deadline = now() + (options.timeoutMs ?? 30_000);
  const interval = options.intervalMs ?? 50;
  let last: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (now() >= deadline) throw new PollTimeoutError(what, last);
    await sleep(interval);
  }
}
