import type { ActionRunner } from "../actions/action-runner.js";
import type { BridgeContext, Extension } from "./extension.js";

/** The outbox's age limit and actions long expired: hourly, and once at start. */
export class HousekeepingExtension implements Extension {
  readonly name = "housekeeping";
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: BridgeContext,
    private readonly actions: ActionRunner,
  ) {}

  async start(): Promise<void> {
    this.run();
    this.timer = setInterval(() => this.run(), 3_600_000);
    this.timer.unref();
  }

  async drain(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async stop(): Promise<void> {
    await this.drain();
  }

  private run(): void {
    try {
      this.ctx.outbox.expire();
      this.actions.prune();
    } catch (e) {
      this.ctx.logger.error({ err: (e as Error).message }, "housekeeping failed");
    }
  }
}
