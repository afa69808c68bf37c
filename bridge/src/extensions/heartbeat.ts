import { HeartbeatLoop } from "../ops/heartbeat.js";
import { type BridgeContext, LoopExtension } from "./extension.js";

export function heartbeatExtension(ctx: BridgeContext): LoopExtension<HeartbeatLoop> {
  const { cloud, settings, registry, metrics, logger } = ctx;
  const loop = new HeartbeatLoop(
    cloud,
    settings.cloud.heartbeatSeconds * 1000,
    () => registry.countOnline(),
    metrics,
    logger.child({ part: "heartbeat" }),
  );
  return new LoopExtension("heartbeat", loop);
}
