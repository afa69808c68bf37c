import type { EventEmitter } from "node:events";

export interface WaitOptions {
  /** Give up after this long (default 10 s); the error names what was awaited. */
  timeoutMs?: number;
  /** Give up when this aborts (its owner stopped): the pending timer must not keep the process alive. */
  signal?: AbortSignal;
}

export const DEFAULT_WAIT_MS = 10_000;

/**
 * Resolves with the first non-undefined answer of `check`, re-evaluated every time `emitter` emits `signal`.
 * No polling: the lock emits `change` whenever its state moves, so a waiter wakes exactly when it can succeed.
 */
export function waitForChange<T>(
  emitter: EventEmitter,
  signal: string,
  check: () => T | undefined,
  what: string,
  options: WaitOptions = {},
): Promise<T> {
  const first = check();
  if (first !== undefined) return Promise.resolve(first);
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
  return new Promise<T>((resolve, reject) => {
    const onChange = () => {
      let value: T | undefined;
      try {
        value = check();
      } catch (e) {
        finish();
        reject(e);
        return;
      }
      if (value === undefined) return;
      finish();
      resolve(value);
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const onAbort = () => {
      finish();
      reject(new Error(`stopped while waiting for ${what}`));
    };
    const finish = () => {
      clearTimeout(timer);
      emitter.off(signal, onChange);
      options.signal?.removeEventListener("abort", onAbort);
    };
    emitter.on(signal, onChange);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
  });
}
