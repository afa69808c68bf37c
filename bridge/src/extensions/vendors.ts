import { VendorConnections } from "../vendors/vendor-connections.js";
import { type BridgeContext, LoopExtension } from "./extension.js";

/** Vendor connections: reconciled at start, after every feed page and whenever a new lock is seen. */
export function vendorsExtension(ctx: BridgeContext): LoopExtension<VendorConnections> {
  const { db, cloud, settings, registry, metrics, logger, events } = ctx;
  const connections = new VendorConnections(
    db,
    cloud,
    settings.vendorAccounts,
    registry,
    ctx.backoff(),
    metrics,
    logger.child({ part: "vendors" }),
  );
  events.on("feedApplied", () => connections.schedule());
  return new LoopExtension("vendors", connections);
}
