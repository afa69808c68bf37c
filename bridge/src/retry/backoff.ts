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
