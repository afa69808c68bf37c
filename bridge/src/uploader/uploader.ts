import type { CloudClient } from "../cloud/client.js";
import { CloudError } from "../cloud/errors.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import type { Outbox, StoredItem } from "../outbox/outbox.js";
import type { Backoff } from "../retry/backoff.js";
import { sleep, Wakeup } from "../retry/sleep.js";
import { countByKind, ingestBody } from "./batch.js";

export interface UploaderOptions {
  batchSize: number;
  maxBatchBytes: number;
}

/**
 * Drains the outbox into the cloud's ingest: one batch in flight at a time, oldest items first. Items are deleted only
 * after a 2xx (the cloud then holds them durably; a batch sent again after a crash is answered as duplicates).
 * Network failures, 5xx and 429 back off exponentially with jitter and retry the same items. A 400/413 is split in
 * halves until the item the cloud refuses is alone; that item is dropped with an error log and a metric, so one bad
 * item never blocks the rest.
 */
export class Uploader {
  private readonly wakeup = new Wakeup();
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private stopping = false;
  private lastSuccessAt: number | null = null;
  private lastError: string | null = null;
  private inFlight = 0;

  constructor(
    private readonly outbox: Outbox,
    private readonly cloud: CloudClient,
    private readonly backoff: Backoff,
    private readonly options: UploaderOptions,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    private readonly now: () => number,
    /** Whether items of this lock may be uploaded now (the cloud assigned it); others wait for `notify()`. */
    isUploadable: (lockId: string) => boolean,
  ) {
    outbox.onAdded((lockId) => {
      if (isUploadable(lockId)) this.wakeup.notify();
    });
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Something became uploadable (a lock was assigned). */
  notify(): void {
    this.wakeup.notify();
  }

  get status(): { lastSuccessAt: number | null; lastError: string | null; inFlight: number; failures: number } {
    return {
      lastSuccessAt: this.lastSuccessAt,
      lastError: this.lastError,
      inFlight: this.inFlight,
      failures: this.backoff.failures,
    };
  }

  /** Lets the batch in flight finish (its items are then deleted), starts no new one. */
  async stop(deadlineMs = 10_000): Promise<void> {
    this.stopping = true;
    this.wakeup.notify();
    const timer = setTimeout(() => this.abort.abort(), deadlineMs);
    try {
      await this.loop;
    } finally {
      clearTimeout(timer);
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const batch = this.outbox.take(this.options.batchSize, this.options.maxBatchBytes);
      if (batch.length === 0) {
        // Wake on new uploadable items or a new assignment (and look again now and then regardless).
        await this.wakeup.wait(this.abort.signal, 30_000);
        continue;
      }
      const ok = await this.send(batch);
      if (!ok && !this.stopping) await sleep(this.backoff.next(), this.abort.signal);
    }
  }

  /** Sends one batch; true when it left the outbox (acknowledged or dropped as refused). */
  private async send(batch: StoredItem[]): Promise<boolean> {
    this.inFlight = batch.length;
    try {
      const result = await this.cloud.ingest(ingestBody(batch), this.abort.signal);
      this.outbox.remove(batch);
      const counts = countByKind(batch);
      for (const kind of ["event", "telemetry", "presence"] as const)
        if (counts[kind] > 0) this.metrics.uploaded.inc({ kind }, counts[kind]);
      if (result?.events?.duplicates) this.metrics.uploadDuplicates.inc({ kind: "event" }, result.events.duplicates);
      if (result?.telemetry?.duplicates)
        this.metrics.uploadDuplicates.inc({ kind: "telemetry" }, result.telemetry.duplicates);
      this.metrics.uploadBatches.inc({ result: "ok" });
      this.backoff.reset();
      this.lastSuccessAt = this.now();
      this.lastError = null;
      return true;
    } catch (e) {
      const error = e instanceof CloudError ? e : new CloudError("ingest", 0, "error", (e as Error).message);
      this.lastError = error.message;
      this.metrics.cloudErrors.inc({ operation: "ingest" });
      if (!error.retryable && (error.status === 400 || error.status === 413 || error.status === 422)) {
        this.metrics.uploadBatches.inc({ result: "refused" });
        return this.isolate(batch, error);
      }
      this.metrics.uploadBatches.inc({ result: "retry" });
      if (!this.stopping)
        this.logger.warn(
          { err: error.message, items: batch.length, failures: this.backoff.failures + 1 },
          "upload failed, will retry",
        );
      return false;
    } finally {
      this.inFlight = 0;
    }
  }

  /** Finds the refused items of a batch by halving it; drops only those. */
  private async isolate(batch: StoredItem[], error: CloudError): Promise<boolean> {
    if (batch.length === 1) {
      const item = batch[0]!;
      this.outbox.remove(batch);
      this.metrics.outboxDropped.inc({ reason: "refused" });
      this.logger.error(
        { lockId: item.lockId, kind: item.kind, item: item.body.slice(0, 300), err: error.message },
        "the cloud refused an item for good; dropped it from the outbox",
      );
      return true;
    }
    const half = Math.ceil(batch.length / 2);
    for (const part of [batch.slice(0, half), batch.slice(half)]) {
      if (this.stopping) return false;
      if (!(await this.send(part))) return false;
    }
    return true;
  }
}
