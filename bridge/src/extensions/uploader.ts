import { OutageReport } from "../uploader/outage-report.js";
import { Uploader } from "../uploader/uploader.js";
import type { BridgeContext, Extension } from "./extension.js";

/** The outbox drained to the cloud; the cloud's verdicts go onto the bus. */
export class UploaderExtension implements Extension {
  readonly name = "uploader";
  readonly uploader: Uploader;
  private stopping: Promise<void> | null = null;

  constructor(ctx: BridgeContext) {
    const { outbox, registry, events, settings } = ctx;
    const logger = ctx.logger.child({ part: "uploader" });
    const outage = new OutageReport(ctx.link, () => outbox.size.items, logger);
    this.uploader = new Uploader(
      outbox,
      ctx.cloud,
      ctx.backoff(),
      {
        batchSize: settings.upload.batchSize,
        maxBatchBytes: settings.upload.maxBatchBytes,
        lanes: settings.upload.lanes,
      },
      ctx.metrics,
      logger,
      () => ctx.clock.now(),
      {
        isUploadable: (lockId) => registry.get(lockId)?.assigned === true,
        keysOf: (lockId) => registry.get(lockId)?.keys ?? null,
        accepted: (lockIds) => events.emit("reportsAccepted", lockIds),
        refused: (lockId, verdict) => events.emit("reportRefused", lockId, verdict),
        uploaded: (n) => outage.uploaded(n),
        idle: () => outage.idle(),
        delivering: (yes) => (yes ? ctx.backpressure.delivered() : ctx.backpressure.stalled()),
      },
    );
    // A feed page may have assigned a lock whose items wait in the outbox.
    events.on("feedApplied", () => this.uploader.notify());
  }

  async start(): Promise<void> {
    this.uploader.start();
  }

  /** The batch in flight finishes while the other parts stop; no new one starts. */
  async drain(): Promise<void> {
    this.stopping ??= this.uploader.stop();
  }

  async stop(): Promise<void> {
    await this.drain();
    await this.stopping;
  }
}
