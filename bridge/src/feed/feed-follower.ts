import { type Backoff, ServiceLoop } from "@latchkey/runtime";
import type { CloudClient } from "../cloud/client.js";
import { CloudError } from "../cloud/errors.js";
import { CloudFailureLog } from "../cloud/failure-log.js";
import type { Change } from "../cloud/types.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import type { Db } from "../store/database.js";
import { type Applied, ChangeApplier } from "./apply-changes.js";
import { parseChange } from "./parse-change.js";

export interface FeedOptions {
  waitSeconds: number;
  limit: number;
}

/**
 * Follows the cloud's change feed: long-polls from the persisted cursor, applies each page and stores the new cursor
 * in the same transaction, so after any crash or restart the bridge resumes exactly after the last page it applied
 * (a page applied twice is harmless: every change is an upsert). Failures back off with jitter.
 */
export class FeedFollower {
  private readonly loop: ServiceLoop;
  private readonly applier: ChangeApplier;
  private readonly getCursor;
  private readonly setCursor;
  private lastSuccessAt: number | null = null;
  private lastError: string | null = null;
  private caughtUp = false;
  private readonly caughtUpWaiters: Array<() => void> = [];
  private readonly failures: CloudFailureLog;

  constructor(
    private readonly db: Db,
    private readonly cloud: CloudClient,
    backoff: Backoff,
    private readonly options: FeedOptions,
    private readonly onApplied: (applied: Applied) => void,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.applier = new ChangeApplier(db, now);
    this.failures = new CloudFailureLog(logger);
    this.getCursor = db.prepare("SELECT cursor FROM feed_cursor WHERE id = 1");
    this.setCursor = db.prepare(
      "INSERT INTO feed_cursor (id, cursor, updated_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
    );
    this.loop = new ServiceLoop({
      round: (signal) => this.round(signal),
      backoff,
      onError: (e, retryInMs) => this.failures.failed(e, { retryInMs }, "change feed failed"),
    });
  }

  get cursor(): string {
    return (this.getCursor.get() as { cursor: string } | undefined)?.cursor ?? "";
  }

  get status(): { lastSuccessAt: number | null; lastError: string | null; caughtUp: boolean } {
    return { lastSuccessAt: this.lastSuccessAt, lastError: this.lastError, caughtUp: this.caughtUp };
  }

  /** Resolves once the feed has been read to its end at least once since start. */
  whenCaughtUp(): Promise<void> {
    if (this.caughtUp) return Promise.resolve();
    return new Promise((resolve) => this.caughtUpWaiters.push(resolve));
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** One page; the next is asked for at once (the long poll is the wait). */
  private async round(signal: AbortSignal): Promise<number> {
    try {
      // The first call does not wait, so startup learns quickly whether it is up to date.
      const wait = this.caughtUp ? this.options.waitSeconds : 0;
      const page = await this.cloud.changes(this.cursor, wait, this.options.limit, signal);
      this.applyPage(page.cursor, page.changes);
      this.failures.succeeded();
      this.lastSuccessAt = this.now();
      this.lastError = null;
      if (!page.more && !this.caughtUp) {
        this.caughtUp = true;
        for (const w of this.caughtUpWaiters.splice(0)) w();
      }
      return 0;
    } catch (e) {
      if (signal.aborted) throw e;
      const error = e instanceof CloudError ? e : new CloudError("changes", 0, "error", (e as Error).message);
      this.lastError = error.message;
      this.metrics.cloudErrors.inc({ operation: "changes" });
      if (error.status === 400 && error.code === "invalid_cursor") {
        // The cloud cannot resume from our cursor (e.g. restored from backup): replay from the start, which
        // rebuilds the complete state through idempotent upserts.
        this.logger.warn({ cursor: this.cursor }, "change feed refused the cursor; replaying the feed from the start");
        this.setCursor.run("", this.now());
        return 0;
      }
      throw error;
    }
  }

  private applyPage(cursor: string, raw: readonly unknown[]): void {
    const changes: Change[] = [];
    for (const entry of raw) {
      const parsed = parseChange(entry);
      if ("change" in parsed) changes.push(parsed.change);
      else if ("unknown" in parsed) this.logger.debug({ kind: parsed.unknown }, "skipping a change of unknown kind");
      else {
        // Skipping is the lesser evil: stopping here would hold back every later change, revocations included.
        this.metrics.feedRejected.inc();
        this.logger.error({ err: parsed.error }, "skipping a malformed change-feed entry");
      }
    }
    const applied = this.db.transaction(() => {
      const result = this.applier.apply(changes);
      this.setCursor.run(cursor, this.now());
      return result;
    })();
    for (const change of changes) this.metrics.feedChanges.inc({ kind: change.kind });
    if (changes.length > 0) this.onApplied(applied);
  }
}
