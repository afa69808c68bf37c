import { ServiceLoop } from "@latchkey/runtime";

/**
 * A background loop that runs `tick` when woken or at the latest every `pollMs`, one tick at a time. `tick` answers
 * how long (ms) until it next has work, if it knows. Errors are reported and the loop goes on: a worker's failure is
 * the store's, which the next poll retries, so there is no backoff. Start, wake and stop are runtime's `ServiceLoop`
 * (a wake before start() or after stop() does nothing).
 */
export class WorkerLoop extends ServiceLoop {
  constructor(tick: () => Promise<number | undefined>, pollMs: number, onError: (err: unknown) => void) {
    super({
      round: async () => {
        const nextInMs = await tick();
        return Math.max(0, Math.min(pollMs, nextInMs ?? pollMs));
      },
      idleMs: pollMs,
      onError,
    });
  }
}
