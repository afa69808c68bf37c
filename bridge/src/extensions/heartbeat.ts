import { HeartbeatLoop } from "../ops/heartbeat.js";
import type { BridgeContext, Extension } from "./extension.js";

export class HeartbeatExtension implements Extension {
  readonly name = "heartbeat";
  private readonly loop: HeartbeatLoop;

  constructor(ctx: BridgeContext) {
    this.loop = new HeartbeatLoop(
      ctx.cloud,
      ctx.settings.cloud.heartbeatSeconds * 1000,
      () => ctx.registry.countOnline(),
      ctx.metrics,
      ctx.logger.child({ part: "heartbeat" }),
    );
  }

  async start(): Promise<void> {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
