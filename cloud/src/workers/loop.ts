/**
 * A background loop that runs `tick` when woken or at the latest every `pollMs`, one tick at a time. `tick` answers
 * how long (ms) until it next has work, if it knows. Errors are reported and the loop goes on.
 */
export class WorkerLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private started = false;

  constructor(
    private readonly tick: () => Promise<number | undefined>,
    private readonly pollMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.started = true;
    this.wake();
  }

  /** Runs a tick soon; before start() (or after stop()) it does nothing. */
  wake(): void {
    if (this.stopped || !this.started) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.run();
  }

  private async run(): Promise<void> {
    let nextInMs: number | undefined;
    do {
      this.again = false;
      try {
        nextInMs = await this.tick();
      } catch (err) {
        this.onError(err);
        nextInMs = undefined;
      }
    } while (this.again && !this.stopped);
    this.running = undefined;
    if (this.stopped) return;
    const delay = Math.max(0, Math.min(this.pollMs, nextInMs ?? this.pollMs));
    this.timer = setTimeout(() => this.wake(), delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
