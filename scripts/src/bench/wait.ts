/**
 * Polls `check` until it answers true; throws naming `what` after `timeoutMs`. Benchmarks wait for conditions, never
 * sleep blind.
 */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const interval = options.intervalMs ?? 20;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`benchmark timed out waiting for ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, interval));
  }
}
