import { FeedFollower } from "../feed/feed-follower.js";
import { type BridgeContext, LoopExtension } from "./extension.js";

/** The cloud's change feed: each applied page reloads the lock registry, then is announced on the bus. */
export function feedExtension(ctx: BridgeContext): LoopExtension<FeedFollower> {
  const follower = new FeedFollower(
    ctx.db,
    ctx.cloud,
    ctx.backoff(),
    { waitSeconds: ctx.settings.cloud.pollWaitSeconds, limit: 500 },
    (applied) => {
      // Before the bus: every listener reads the registry as the page left it.
      ctx.registry.reload(applied.locks);
      ctx.events.emit("feedApplied", applied);
    },
    ctx.metrics,
    ctx.logger.child({ part: "feed" }),
    () => ctx.clock.now(),
  );
  return new LoopExtension("feed", follower);
}
