import type { BridgeContext, Extension } from "./extension.js";

/** The database the context opened: stopped last, once every part's writes are committed. */
export class StoreExtension implements Extension {
  readonly name = "store";

  constructor(private readonly ctx: BridgeContext) {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await this.ctx.batcher.drain();
    this.ctx.batcher.close();
    this.ctx.db.close();
  }
}
