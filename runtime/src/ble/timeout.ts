/** Nothing came within the time allowed. */
export class BleTimeoutError extends Error {
  readonly code = "timeout";
  constructor(what: string, ms: number) {
    super(`timed out after ${ms} ms ${what}`);
    this.name = "BleTimeoutError";
  }
}

/**
 * Rejects with a BleTimeoutError when `work` has not settled within `ms`; `what` says what was waited for. The
 * `Deadline` that @latchkey/protocol/ble's GATT client is handed, and the bound on every other wait of a BLE central:
 * noble calls back nothing for a link that is gone.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BleTimeoutError(what, ms)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
