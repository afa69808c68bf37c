import { MAX_STATE_BYTES, type Topics } from "@latchkey/protocol";
import { type Backoff, ServiceLoop } from "@latchkey/runtime";
import type { LockBroker } from "../broker/transport.js";
import type { CloudClient } from "../cloud/client.js";
import { CloudError } from "../cloud/errors.js";
import { CloudFailureLog } from "../cloud/failure-log.js";
import type { LockStateDocument } from "../cloud/types.js";
import type { LockRegistry } from "../locks/registry.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import { type Db, withoutSync } from "../store/database.js";

export interface StateRelayOptions {
  /** How often every lock's document is fetched again: the cloud re-signs a document over an hour old. */
  refreshMs: number;
  /** Fetches run at once (each is one small GET). */
  concurrency: number;
}

export interface StateRelayStatus {
  /** Documents kept, published since start (each a newer v), and fetches that failed since start. */
  documents: number;
  relayed: number;
  fetchFailures: number;
  lastFetchAt: number | null;
  lastError: string | null;
}

/**
 * The courier path for signed lock state (docs/design.md section 7, "Couriers"; docs/mqtt.md "Signed state and
 * time"): keeps the latest document of each lock the cloud has one for (`lock_states`), and publishes it retained on
 * the lock's `state` topic whenever the cloud answered a newer `v`. The bytes go out exactly as the cloud sent them;
 * the bridge reads nothing inside (it compares the `v` the cloud answered beside the document), so it can only delay
 * or withhold a document, never change one.
 *
 * A lock's document is fetched when the lock connects, after every applied change-feed batch that can change a state
 * (every lock of the site: the simplest rule that cannot miss a change, coalesced so a burst of batches costs one
 * round), after the cloud accepted its reports (a new `ack`, rate-limited by AckRefetch), and every `refreshMs`.
 * Fetches of one lock never overlap: a request that arrives while it is fetched runs once after. A lock the feed says
 * is not claimed has no document (the cloud answers 404): it is not asked for until a claim arrives on the feed.
 * BLE locks take the kept document at their next visit (`latest`).
 */
export class StateRelay {
  private readonly loop: ServiceLoop;
  private readonly pending = new Set<string>();
  private readonly failed = new Set<string>();
  /** When the failed locks are tried again (monotonic ms), or null while none failed. */
  private retryAt: number | null = null;
  private readonly published = new Map<string, number>();
  private refreshTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private lastFetchAt: number | null = null;
  private lastError: string | null = null;
  private relayed = 0;
  private fetchFailures = 0;
  private readonly sql;
  private readonly failures: CloudFailureLog;

  constructor(
    private readonly db: Db,
    private readonly cloud: CloudClient,
    private readonly broker: LockBroker,
    private readonly topics: Topics,
    private readonly registry: LockRegistry,
    private readonly backoff: Backoff,
    private readonly options: StateRelayOptions,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.failures = new CloudFailureLog(logger);
    this.loop = new ServiceLoop({ round: (signal) => this.round(signal) });
    this.sql = {
      get: db.prepare("SELECT v, document FROM lock_states WHERE lock_id = ?"),
      put: db.prepare(
        `INSERT INTO lock_states (lock_id, v, iat, document, fetched_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (lock_id) DO UPDATE SET v = excluded.v, iat = excluded.iat, document = excluded.document,
           fetched_at = excluded.fetched_at`,
      ),
      remove: db.prepare("DELETE FROM lock_states WHERE lock_id = ?"),
      stored: db.prepare("SELECT lock_id FROM lock_states"),
      count: db.prepare("SELECT COUNT(*) AS n FROM lock_states"),
      versions: db.prepare("SELECT lock_id, v FROM lock_states"),
    };
    metrics.gauge("lock_states_kept", "Signed lock state documents the bridge keeps", () => this.count());
  }

  get status(): StateRelayStatus {
    return {
      documents: this.count(),
      relayed: this.relayed,
      fetchFailures: this.fetchFailures,
      lastFetchAt: this.lastFetchAt,
      lastError: this.lastError,
    };
  }

  start(): void {
    this.refreshAll();
    this.loop.start();
    this.refreshTimer = setInterval(() => this.refreshAll(), this.options.refreshMs);
    this.refreshTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
    this.pending.clear();
    // Aborts a fetch in flight: it must not hold the shutdown for the request timeout.
    await this.loop.stop();
  }

  /** Every lock of the site, and every lock the bridge still keeps a document for (it may have left the site). */
  refreshAll(): void {
    const ids = new Set<string>();
    for (const lock of this.registry.all()) if (lock.assigned && lock.claimed !== false) ids.add(lock.lockId);
    for (const row of this.sql.stored.iterate() as Iterable<{ lock_id: string }>) ids.add(row.lock_id);
    this.fetch(ids);
  }

  /** The document kept for a lock, as the cloud sent it (a BLE visit hands it over when it is newer than the lock's). */
  latest(lockId: string): { v: number; state: Uint8Array } | null {
    const row = this.sql.get.get(lockId) as { v: number; document: Buffer } | undefined;
    return row ? { v: row.v, state: new Uint8Array(row.document) } : null;
  }

  /** The `v` of the document kept for each lock (the latest the bridge holds; the status page shows it). */
  keptVersions(): Map<string, number> {
    const out = new Map<string, number>();
    for (const row of this.sql.versions.iterate() as Iterable<{ lock_id: string; v: number }>)
      out.set(row.lock_id, row.v);
    return out;
  }

  /** Fetches these locks' documents (coalesced with any round already running). */
  fetch(lockIds: Iterable<string>): void {
    if (this.stopped) return;
    for (const id of lockIds) this.pending.add(id);
    this.loop.wake();
  }

  /**
   * Fetches every pending lock (and the failed ones once their backoff is over); resolves to the wait until those that
   * failed are tried again, if any. Locks asked for meanwhile do not wait for it.
   */
  private async round(signal: AbortSignal): Promise<number | undefined> {
    if (this.retryAt !== null && performance.now() >= this.retryAt) {
      for (const id of this.failed) this.pending.add(id);
      this.failed.clear();
      this.retryAt = null;
    }
    while (this.pending.size > 0 && !this.stopped) {
      const round = [...this.pending];
      this.pending.clear();
      let next = 0;
      const worker = async () => {
        while (next < round.length && !this.stopped) await this.fetchOne(round[next++]!, signal);
      };
      await Promise.all(Array.from({ length: Math.min(this.options.concurrency, round.length) }, worker));
    }
    if (this.failed.size === 0 || this.stopped) {
      this.retryAt = null;
      return undefined;
    }
    this.retryAt ??= performance.now() + this.backoff.next();
    return Math.max(0, this.retryAt - performance.now());
  }

  private async fetchOne(lockId: string, signal: AbortSignal): Promise<void> {
    let document: LockStateDocument | null;
    try {
      document = await this.cloud.lockState(lockId, signal);
    } catch (e) {
      if (this.stopped) return;
      const error = e instanceof CloudError ? e : new CloudError("lock state", 0, "error", (e as Error).message);
      this.metrics.relayFetchFailures.inc({ operation: "state" });
      this.fetchFailures++;
      this.metrics.cloudErrors.inc({ operation: "lock_state" });
      this.lastError = error.message;
      // A refusal that will not change by asking again (4xx but 408/429) waits for the next trigger instead.
      if (error.retryable) this.failed.add(lockId);
      this.failures.failed(error, { lockId }, "could not fetch a lock's signed state");
      return;
    }
    this.lastFetchAt = this.now();
    this.lastError = null;
    this.failures.succeeded();
    this.failed.delete(lockId);
    if (this.failed.size === 0) this.backoff.reset();
    if (document === null) return this.forget(lockId);
    if (document.state.length > MAX_STATE_BYTES) {
      // The lock would refuse it unread (too_large): carrying it only costs the lock a transfer.
      this.metrics.relayFetchFailures.inc({ operation: "state_too_large" });
      this.logger.error({ lockId, bytes: document.state.length }, "the cloud answered a state over the size cap");
      return;
    }
    const stored = this.sql.get.get(lockId) as { v: number; document: Uint8Array } | undefined;
    // Without an fsync on the event loop (issue 17: under load these puts blocked it ~5 % of the time): the document
    // is the cloud's and fetched again at every start, and a lock refuses any v older than the one it runs, so one
    // lost to a power cut costs a fetch and nothing else.
    if (!stored || document.v > stored.v)
      withoutSync(this.db, () => this.sql.put.run(lockId, document.v, document.iat, document.state, this.now()));
    const latest = !stored || document.v > stored.v ? document : { v: stored.v, state: stored.document };
    if ((this.published.get(lockId) ?? 0) < latest.v) await this.publish(lockId, latest.v, latest.state);
  }

  /** The cloud has no document for this lock (any more): nothing is kept, and no old one waits at the broker. */
  private async forget(lockId: string): Promise<void> {
    if (this.sql.remove.run(lockId).changes === 0) return;
    this.published.delete(lockId);
    this.logger.info({ lockId }, "the cloud has no signed state for this lock any more; cleared it");
    await this.broker
      .publish(this.topics.lock(lockId, "state"), new Uint8Array(0), { qos: 1, retain: true })
      .catch((e: Error) => this.logger.warn({ lockId, err: e.message }, "could not clear a lock's retained state"));
  }

  private async publish(lockId: string, v: number, state: Uint8Array): Promise<void> {
    try {
      await this.broker.publish(this.topics.lock(lockId, "state"), state, { qos: 1, retain: true });
      this.published.set(lockId, v);
      this.metrics.relayedStates.inc();
      this.relayed++;
      this.logger.debug({ lockId, v }, "published a lock's signed state");
    } catch (e) {
      // Not marked published: the next fetch (the lock connecting, a feed batch, the hourly round) publishes it.
      if (!this.stopped) this.logger.warn({ lockId, err: (e as Error).message }, "could not publish a signed state");
    }
  }

  private count(): number {
    return (this.sql.count.get() as { n: number }).n;
  }
}
