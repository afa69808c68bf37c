import { ActionRunner } from "../actions/action-runner.js";
import type { BridgeContext, Extension } from "./extension.js";

/** Remote actions: carried to MQTT locks at once, to BLE locks at their next visit. */
export class ActionsExtension implements Extension {
  readonly name = "actions";
  readonly runner: ActionRunner;

  constructor(ctx: BridgeContext, reachable: (lockId: string) => boolean) {
    const { commands, events } = ctx;
    this.runner = new ActionRunner(
      ctx.db,
      ctx.cloud,
      ctx.registry,
      {
        reachable,
        mqtt: (lockId, request) => commands.send(lockId, request, 10_000),
        blePending: (lockId) => events.emit("bleActionPending", lockId),
      },
      () => ctx.backoff(),
      ctx.metrics,
      ctx.logger.child({ part: "actions" }),
      () => ctx.clock.now(),
    );
    events.on("feedApplied", (applied) => {
      if (applied.actions.size > 0) this.runner.schedule();
    });
  }

  async start(): Promise<void> {
    this.runner.schedule();
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }
}
