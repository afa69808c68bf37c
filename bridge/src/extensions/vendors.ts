import { VendorConnections } from "../vendors/vendor-connections.js";
import type { BridgeContext, Extension } from "./extension.js";

/** Vendor connections: reconciled at start, after every feed page and whenever a new lock is seen. */
export class VendorsExtension implements Extension {
  readonly name = "vendors";
  readonly connections: VendorConnections;

  constructor(ctx: BridgeContext) {
    this.connections = new VendorConnections(
      ctx.db,
      ctx.cloud,
      ctx.settings.vendorAccounts,
      ctx.registry,
      ctx.backoff(),
      ctx.metrics,
      ctx.logger.child({ part: "vendors" }),
    );
    ctx.events.on("feedApplied", () => this.connections.schedule());
  }

  async start(): Promise<void> {
    this.connections.start();
  }

  async stop(): Promise<void> {
    await this.connections.stop();
  }
}
