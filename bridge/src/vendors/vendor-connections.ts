import { createHash } from "node:crypto";
import { checkVendorCredentials } from "@latchkey/protocol";
import { FoundLocks } from "@latchkey/protocol/contracts";
import { type Backoff, ServiceLoop } from "@latchkey/runtime";
import type { CloudClient } from "../cloud/client.js";
import { CloudError } from "../cloud/errors.js";
import { CloudFailureLog } from "../cloud/failure-log.js";
import type { VendorAccount } from "../config/schema.js";
import type { LockRegistry, LockTransport } from "../locks/registry.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import type { Db } from "../store/database.js";

interface ConnectionRow {
  id: string;
  lock_holder_id: string;
  vendor: string;
  username: string;
  check_salt: string;
  check_digest: string;
  cloud_state: string;
  deleted: number;
  change_seq: number;
  handled_seq: number;
  reported_state: string | null;
  reported_reason: string | null;
  reported_digest: string | null;
  reported_locks: string | null;
}

export interface VendorConnectionStatus {
  id: string;
  vendor: string;
  username: string;
  /** The connection's state as the cloud last said it (change feed). */
  cloudState: string;
  /** What this bridge last reported for it (`connected` / `error`), and why. */
  reportedState: string | null;
  reason: string | null;
  /** Locks this bridge last reported it reaches for the connection. */
  locks: number;
}

const TRANSPORT: Record<string, LockTransport> = { sim: "mqtt", ble: "ble" };

export const INVALID_CREDENTIALS = "invalid vendor credentials";
/** The most locks one report of found locks may list (the bridge API's contract, docs/bridge-api.md). */
export const MAX_FOUND_LOCKS = FoundLocks.properties.locks.maxItems ?? 10_000;
const SETTLE_MS = 200;

interface Verdict {
  state: "connected" | "error";
  reason?: string;
  account?: VendorAccount;
}

/**
 * Serves the vendor connections the cloud assigned to this bridge: checks each one's credentials against the vendor
 * accounts in the configuration, reports `connected` or `error` (with a reason), and reports the locks it reaches for
 * each connected one (the full list, as the cloud expects on a refresh). Idempotent reconciliation: it compares what
 * the cloud last said and what the bridge last reported (both in the table) with what is true now, and reports only
 * differences, retrying with backoff while the cloud is unreachable.
 */
export class VendorConnections {
  private readonly loop: ServiceLoop;
  private readonly checks = new Map<string, boolean>();
  private readonly sql;
  private readonly failures: CloudFailureLog;

  constructor(
    db: Db,
    private readonly cloud: CloudClient,
    private readonly accounts: readonly VendorAccount[],
    private readonly registry: LockRegistry,
    backoff: Backoff,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    private readonly maxFoundLocks = MAX_FOUND_LOCKS,
  ) {
    this.failures = new CloudFailureLog(logger);
    this.loop = new ServiceLoop({
      round: async (signal) => {
        await this.reconcile(signal);
        this.failures.succeeded();
      },
      // Locks often arrive in bursts (a site powering up): one report for the burst, not one per lock.
      settleMs: SETTLE_MS,
      backoff,
      onError: (e, retryInMs) => {
        this.metrics.cloudErrors.inc({ operation: "vendor connections" });
        this.failures.failed(e, { retryInMs }, "vendor connection report failed");
      },
    });
    this.sql = {
      all: db.prepare("SELECT * FROM vendor_connections WHERE deleted = 0 ORDER BY id"),
      handled: db.prepare(
        `UPDATE vendor_connections SET handled_seq = ?, reported_state = ?, reported_reason = ?, reported_digest = ?,
           reported_locks = ? WHERE id = ?`,
      ),
      byState: db.prepare(
        "SELECT cloud_state AS state, COUNT(*) AS n FROM vendor_connections WHERE deleted = 0 GROUP BY cloud_state",
      ),
    };
    registry.on("seen", () => this.schedule());
    metrics.gauge(
      "vendor_connections",
      "Vendor connections by state (as the cloud last said)",
      () => {
        const out: Record<string, number> = { connecting: 0, refreshing: 0, connected: 0, error: 0, disconnected: 0 };
        for (const row of this.sql.byState.all() as { state: string; n: number }[]) out[row.state] = row.n;
        return out;
      },
      "state",
    );
  }

  /** Each vendor connection: what the cloud last said, and what this bridge reported (the status page shows them). */
  list(): VendorConnectionStatus[] {
    return (this.sql.all.all() as ConnectionRow[]).map((row) => ({
      id: row.id,
      vendor: row.vendor,
      username: row.username,
      cloudState: row.cloud_state,
      reportedState: row.reported_state,
      reason: row.reported_reason,
      locks: row.reported_locks ? row.reported_locks.split("\n").length : 0,
    }));
  }

  start(): void {
    this.loop.start();
  }

  schedule(): void {
    this.loop.wake();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /**
   * The verdict on a connection's credentials (scrypt is costly: cached per salt, digest and account, and run on the
   * thread pool so the broker keeps serving locks meanwhile, review 12.11).
   */
  private async verdict(row: ConnectionRow): Promise<Verdict> {
    const account = this.accounts.find((a) => a.vendor === row.vendor && a.username === row.username);
    if (!account)
      return {
        state: "error",
        reason: `no ${row.vendor} vendor account "${row.username}" is configured on this bridge`,
      };
    const key = createHash("sha256")
      .update([row.check_salt, row.check_digest, account.vendor, account.username, account.password].join("\u0000"))
      .digest("hex");
    let ok = this.checks.get(key);
    if (ok === undefined) {
      ok = await checkVendorCredentials({ salt: row.check_salt, digest: row.check_digest }, account);
      if (this.checks.size > 256) this.checks.clear();
      this.checks.set(key, ok);
    }
    return ok ? { state: "connected", account } : { state: "error", reason: INVALID_CREDENTIALS };
  }

  /** The locks this bridge reaches for an account, sorted. */
  foundLocks(account: VendorAccount): string[] {
    const transport = TRANSPORT[account.vendor];
    const allowed = account.locks ? new Set(account.locks) : null;
    const ids: string[] = [];
    for (const lock of this.registry.all()) {
      if (lock.transport === transport && (!allowed || allowed.has(lock.lockId))) ids.push(lock.lockId);
    }
    return ids.sort();
  }

  /**
   * Each connection on its own: one the cloud refuses (or a failure while reporting it) does not hold back the others'
   * reports; the first failure is thrown once every connection had its turn, so the round backs off and retries.
   */
  private async reconcile(signal: AbortSignal): Promise<void> {
    let failure: unknown = null;
    for (const row of this.sql.all.all() as ConnectionRow[]) {
      if (signal.aborted) return;
      try {
        await this.reconcileOne(row);
      } catch (e) {
        if (failure === null) failure = e;
        else
          this.logger.warn(
            { vendorConnectionId: row.id, err: (e as Error).message },
            "vendor connection report failed",
          );
      }
    }
    if (failure !== null) throw failure;
  }

  private async reconcileOne(row: ConnectionRow): Promise<void> {
    let verdict = await this.verdict(row);
    const fresh = row.change_seq > row.handled_seq;
    let locks = verdict.account ? this.foundLocks(verdict.account) : null;
    if (locks && locks.length > this.maxFoundLocks) {
      // The cloud would refuse the list (400) at every retry: say why, where an operator and the integrator see it.
      verdict = {
        state: "error",
        reason:
          `this bridge reaches ${locks.length} locks for the vendor account; one vendor connection holds at most ` +
          `${this.maxFoundLocks}: split them over vendor accounts (vendorAccounts[].locks)`,
      };
      locks = null;
    }
    const locksText = locks ? locks.join("\n") : null;
    let reportedLocks = row.reported_locks;
    // Locks first: on a refresh the cloud offboards locks missing from the list, then the state ends the refresh.
    if (
      locks &&
      locksText !== null &&
      (locksText !== row.reported_locks ||
        (fresh && (row.cloud_state === "refreshing" || row.cloud_state === "connecting")))
    ) {
      const answer = await this.cloud.reportLocks(
        row.id,
        locks.map((id) => ({ id })),
      );
      const conflicts = answer.filter((l) => l.status === "conflict").map((l) => l.id);
      if (conflicts.length > 0)
        this.logger.warn({ vendorConnectionId: row.id, conflicts }, "locks already owned by another lock holder");
      reportedLocks = locksText;
      this.logger.info({ vendorConnectionId: row.id, locks: locks.length }, "reported found locks");
    }
    const stateDiffers =
      row.cloud_state !== verdict.state ||
      row.reported_state !== verdict.state ||
      (row.reported_reason ?? null) !== (verdict.reason ?? null);
    if (stateDiffers || (fresh && row.cloud_state === "refreshing")) {
      try {
        await this.cloud.reportState(row.id, verdict.state, verdict.reason);
      } catch (e) {
        // A connection deleted in the cloud meanwhile: the feed will say so; nothing to report.
        if (e instanceof CloudError && e.status === 404) {
          this.sql.handled.run(
            row.change_seq,
            row.reported_state,
            row.reported_reason,
            row.check_digest,
            reportedLocks,
            row.id,
          );
          return;
        }
        throw e;
      }
      this.metrics.vendorReports.inc({ state: verdict.state });
      this.logger.info(
        { vendorConnectionId: row.id, state: verdict.state, reason: verdict.reason },
        "reported vendor connection state",
      );
    }
    this.sql.handled.run(
      row.change_seq,
      verdict.state,
      verdict.reason ?? null,
      row.check_digest,
      reportedLocks,
      row.id,
    );
  }
}
