/**
 * Says on the test output why something is skipped: vitest's default reporter does not list the names of skipped
 * tests, where the reason is written too.
 */
export function announceSkip(what: string, reason: string): void {
  console.warn(`skipped: ${what} (${reason})`);
}
