import { peekReport } from "@latchkey/protocol";
import { type Backoff, ServiceLoop } from "@latchkey/runtime";
import type { CloudClient } from "../cloud/client.js";
import { CloudError } from "../cloud/errors.js";
import { CloudFailureLog } from "../cloud/failure-log.js";
import type { ReportsAnswer } from "../cloud/types.js";
import type { LockKeys } from "../locks/registry.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import { type Lane, laneOf, type Outbox, type StoredItem } from "../outbox/outbox.js";
import { isPresenceItem, isReportItem, presenceBody, reportsBody } from "./batch.js";

export interface UploaderOptions {
  batchSize: number;
  maxBatchBytes: number;
  /**
   * Batches in flight at once (default 2), each of its own locks (`laneOf`): a lock's reports must reach the cloud in
   * order (it refuses a counter below one it accepted, docs/reports.md), so no lock is ever in two of them.
   */
  lanes?: number;
}

export interface UploaderHooks {
  /** Whether items of this lock may be uploaded now (the cloud assigned it); others wait for `notify()`. */
  isUploadable(lockId: string): boolean;
  /** The lock's public keys, attached to its reports. */
  keysOf(lockId: string): LockKeys | null;
  /**
   * Locks with events the cloud accepted (`ok`) in a batch, other than `state_applied`: their signed state's `ack`
   * moved past events the lock is holding for it.
   */
  accepted(lockIds: ReadonlySet<string>): void;
  /** The cloud refused a lock's report (any verdict but ok and duplicate): the status page shows it by lock. */
  refused?(lockId: string, verdict: string): void;
  /** `n` items left the outbox on the cloud's answer. */
  uploaded?(n: number): void;
  /** Nothing uploadable is left in the outbox. */
  idle?(): void;
  /**
   * Whether the upload is delivering: true after each batch that left the outbox, false when a round ends on a failure
   * or with nothing sent, and at stop (UploadBackpressure).
   */
  delivering?(yes: boolean): void;
}

/** How many refusals, by verdict, the health answer shows since start. */
type RefusalCounts = Record<string, number>;

/** With nothing to upload, the outbox is looked at again this often regardless of wake-ups. */
const IDLE_MS = 30_000;

/**
 * Drains the outbox: sealed reports to `POST /bridge/v1/reports`, presence to `POST /bridge/v1/ingest`; oldest items
 * first, one batch in flight per lane, the locks split among the lanes so that each lock's items go up one batch after
 * the other (the next batch is built and sent while the other lane's waits for the cloud: the round trip is no longer
 * the upload's pace). An item leaves the outbox only on the cloud's answer:
 * - a report's verdict, whatever it is, ends it (docs/bridge-api.md "Reports from the lock"): `ok` and `duplicate` are
 *   delivered; every other verdict is evidence about a courier, counted in
 *   `latchkey_bridge_reports_refused_total{verdict}` and logged without the bytes. The bridge cannot tell a forged
 *   report from the lock's own, and never tries: it carries both, the cloud judges;
 * - presence: a 2xx.
 * Network failures, 5xx and 429 (and an answer without a verdict per item) back off exponentially with jitter and
 * retry the same items. A 400/413/422 is split in halves until the item the cloud refuses is alone; that item is
 * dropped with an error log and a metric, so one bad item never blocks the rest.
 */
export class Uploader {
  private readonly loop: ServiceLoop;
  private lastSuccessAt: number | null = null;
  private lastError: string | null = null;
  private inFlight = 0;
  private readonly refused: RefusalCounts = {};
  private readonly failures: CloudFailureLog;
  /** Lanes of the round in progress waiting for items (`round`), by lane. */
  private readonly laneWaiters = new Map<number, () => void>();

  constructor(
    private readonly outbox: Outbox,
    private readonly cloud: CloudClient,
    backoff: Backoff,
    private readonly options: UploaderOptions,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly hooks: UploaderHooks,
  ) {
    this.failures = new CloudFailureLog(logger);
    // A failed batch was logged where it failed (with its size): the loop only backs off.
    this.loop = new ServiceLoop({ round: (signal) => this.round(signal), idleMs: IDLE_MS, backoff });
    outbox.onAdded((lockId) => {
      if (!hooks.isUploadable(lockId)) return;
      this.loop.wake();
      // Only the item's lane looks again: another one would scan the outbox for nothing.
      this.releaseLanes(laneOf(lockId, this.lanes));
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Something became uploadable (a lock was assigned). */
  notify(): void {
    this.loop.wake();
    this.releaseLanes();
  }

  /** Wakes the waiting lanes (all, or only `lane`). */
  private releaseLanes(lane?: number): void {
    if (this.laneWaiters.size === 0) return;
    const waiters = lane === undefined ? [...this.laneWaiters.values()] : [this.laneWaiters.get(lane)];
    if (lane === undefined) this.laneWaiters.clear();
    else this.laneWaiters.delete(lane);
    for (const resolve of waiters) resolve?.();
  }

  private get lanes(): number {
    return Math.max(1, this.options.lanes ?? 2);
  }

  get status(): {
    lastSuccessAt: number | null;
    lastError: string | null;
    inFlight: number;
    failures: number;
    reportsRefused: RefusalCounts;
  } {
    return {
      lastSuccessAt: this.lastSuccessAt,
      lastError: this.lastError,
      inFlight: this.inFlight,
      failures: this.loop.failures,
      reportsRefused: { ...this.refused },
    };
  }

  /** Lets the batch in flight finish (its items are then deleted), starts no new one. */
  async stop(deadlineMs = 10_000): Promise<void> {
    const stopped = this.loop.stop(deadlineMs);
    this.releaseLanes();
    this.hooks.delivering?.(false);
    await stopped;
    this.hooks.delivering?.(false);
  }

  /**
   * Every lane sends batches, oldest items first, until it finds none or a batch failed; the round ends when every
   * lane has (so a retry never runs beside a lane still holding the same locks), and throws the first failure to back
   * off. When nothing was found, waits for a wake-up.
   */
  private async round(signal: AbortSignal): Promise<number | undefined> {
    const lanes = this.lanes;
    let sent = 0;
    let failed = false;
    /** Lanes sending or about to; one that found nothing waits for new items or for the others to end. */
    let active = lanes;
    const lane = async (index: number): Promise<void> => {
      const only: Lane | undefined = lanes === 1 ? undefined : { index, of: lanes };
      try {
        while (!failed && !this.loop.stopping) {
          const batch = this.outbox.take(this.options.batchSize, this.options.maxBatchBytes, 0, only);
          if (batch.length === 0) {
            if (active === 1) return;
            active--;
            await new Promise<void>((resolve) => this.laneWaiters.set(index, resolve));
            active++;
            continue;
          }
          sent += batch.length;
          this.inFlight += batch.length;
          try {
            if (!(await this.upload(batch, signal))) return;
          } catch (e) {
            failed = true;
            throw e;
          } finally {
            this.inFlight -= batch.length;
          }
        }
      } finally {
        active--;
        this.releaseLanes();
      }
    };
    const ends = await Promise.allSettled(Array.from({ length: lanes }, (_, i) => lane(i)));
    const failure = ends.find((end) => end.status === "rejected");
    if (failure) {
      this.hooks.delivering?.(false);
      throw failure.reason;
    }
    if (sent > 0 && !this.loop.stopping) return 0;
    this.hooks.delivering?.(false);
    if (sent > 0) return 0;
    this.hooks.idle?.();
    return undefined;
  }

  /** One batch: reports and presence go to different endpoints; each part leaves the outbox on its own answer. */
  private async upload(batch: StoredItem[], signal: AbortSignal): Promise<boolean> {
    const reports = batch.filter(isReportItem);
    const presence = batch.filter(isPresenceItem);
    if (reports.length > 0 && !(await this.send(reports, signal))) return false;
    if (presence.length > 0 && !(await this.send(presence, signal))) return false;
    return true;
  }

  /**
   * Sends one batch of one kind (all reports, or all presence); true when it left the outbox, false when the bridge
   * stopped before all of it did. Throws (to back off) what may succeed when tried again.
   */
  private async send(batch: StoredItem[], signal: AbortSignal): Promise<boolean> {
    const reports = batch.every(isReportItem);
    const operation = reports ? "reports" : "ingest";
    try {
      if (reports) {
        const answer = await this.cloud.reports(
          reportsBody(batch.filter(isReportItem), (lockId) => this.hooks.keysOf(lockId)),
          batch.length,
          signal,
        );
        this.outbox.remove(batch);
        this.judged(batch, answer);
      } else {
        await this.cloud.ingest(presenceBody(batch.filter(isPresenceItem)), signal);
        this.outbox.remove(batch);
        this.metrics.uploaded.inc({ kind: "presence" }, batch.length);
      }
      this.metrics.uploadBatches.inc({ result: "ok" });
      this.hooks.uploaded?.(batch.length);
      if (!this.loop.stopping) this.hooks.delivering?.(true);
      this.failures.succeeded();
      this.lastSuccessAt = this.now();
      this.lastError = null;
      return true;
    } catch (e) {
      const error = e instanceof CloudError ? e : new CloudError(operation, 0, "error", (e as Error).message);
      this.lastError = error.message;
      this.metrics.cloudErrors.inc({ operation });
      // A failing upload holds no PUBACK: the outbox is the buffer while the cloud does not take.
      this.hooks.delivering?.(false);
      if (!error.retryable && (error.status === 400 || error.status === 413 || error.status === 422)) {
        this.metrics.uploadBatches.inc({ result: "refused" });
        return this.isolate(batch, error, signal);
      }
      this.metrics.uploadBatches.inc({ result: "retry" });
      if (!this.loop.stopping)
        this.failures.failed(
          error,
          { items: batch.length, failures: this.loop.failures + 1 },
          "upload failed, will retry",
        );
      throw error;
    }
  }

  /**
   * Counts a reports batch's verdicts (every one of them ended its item) and names the locks whose `ack` moved past an
   * event worth fetching the state for.
   */
  private judged(batch: readonly StoredItem[], answer: ReportsAnswer): void {
    const accepted = new Set<string>();
    const refusals: Record<string, number> = {};
    const refusedLocks = new Set<string>();
    let example: { lockId: string; verdict: string; message?: string } | null = null;
    answer.verdicts.forEach(({ verdict, message }, i) => {
      const item = batch[i]!;
      const kind = item.kind as "event" | "telemetry";
      if (verdict === "ok" || verdict === "duplicate") {
        this.metrics.uploaded.inc({ kind });
        if (verdict === "duplicate") this.metrics.uploadDuplicates.inc({ kind });
        else if (movesAck(item)) accepted.add(item.lockId);
        return;
      }
      this.metrics.reportsRefused.inc({ verdict });
      this.hooks.refused?.(item.lockId, verdict);
      this.refused[verdict] = (this.refused[verdict] ?? 0) + 1;
      refusals[verdict] = (refusals[verdict] ?? 0) + 1;
      refusedLocks.add(item.lockId);
      example ??= { lockId: item.lockId, verdict, ...(message ? { message } : {}) };
    });
    if (example)
      // Evidence about a courier (or a lock the cloud does not know): counts and lock ids, never a report's bytes.
      this.logger.warn(
        { refused: refusals, locks: [...refusedLocks].slice(0, 20), example },
        "the cloud refused lock reports",
      );
    if (accepted.size > 0) this.hooks.accepted(accepted);
  }

  /** Finds the refused items of a batch by halving it; drops only those. */
  private async isolate(batch: StoredItem[], error: CloudError, signal: AbortSignal): Promise<boolean> {
    if (batch.length === 1) {
      const item = batch[0]!;
      this.outbox.remove(batch);
      this.metrics.outboxDropped.inc({ reason: "refused" });
      this.logger.error(
        { lockId: item.lockId, kind: item.kind, bytes: item.bytes, err: error.message },
        "the cloud refused an item for good; dropped it from the outbox",
      );
      return true;
    }
    const half = Math.ceil(batch.length / 2);
    for (const part of [batch.slice(0, half), batch.slice(half)]) {
      if (this.loop.stopping) return false;
      if (!(await this.send(part, signal))) return false;
    }
    return true;
  }
}

/**
 * Whether an accepted report is an event the lock keeps until the next `ack`, other than `state_applied`. Telemetry
 * moves no `ack`. A `state_applied` event does, but fetching a state for it would make the lock apply a new state, emit
 * another `state_applied`, and so on every 10 s for ever; it is freed with the next state the lock gets for any other
 * reason (an event, a change in the cloud, the hourly re-signing). The event's type is what the peek at receipt read,
 * kept with the item; only a row stored without it (by an older bridge) is peeked again, from the stored bytes the
 * cloud has just accepted as the lock's.
 */
export function movesAck(item: StoredItem): boolean {
  if (item.kind !== "event" || item.report === null) return false;
  if (item.eventType !== null) return item.eventType !== "state_applied";
  try {
    const peeked = peekReport(item.report, item.lockId);
    return peeked.kind === "event" && peeked.event.type !== "state_applied";
  } catch {
    return false;
  }
}

export { laneOf };
