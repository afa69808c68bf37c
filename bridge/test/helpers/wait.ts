import { type PollOptions, pollUntil } from "@latchkey/runtime";

/** runtime's pollUntil with the bridge tests' pace: a short interval, a deadline well inside vitest's. */
export function waitFor<T>(what: string, condition: () => T | Promise<T>, options: PollOptions = {}) {
  return pollUntil(what, condition, { timeoutMs: 15_000, intervalMs: 20, ...options });
}
