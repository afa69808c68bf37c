import type { CommandResult } from "@latchkey/protocol";
import { type Backoff, sleep } from "@latchkey/runtime";
import type { CloudClient } from "../cloud/client.js";
import { CloudError } from "../cloud/errors.js";
import type { CommandRequest } from "../commands/command-channel.js";
import type { LockRegistry } from "../locks/registry.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import type { Db } from "../store/database.js";

/** One command to the lock and its result, over whatever reaches it (MQTT `cmd`, a BLE session). */
export type LockCourier = (request: CommandRequest) => Promise<CommandResult>;

export type ActionOutcome =
  | "delivered"
  | "refused"
  | "unreachable"
  | "expired"
  | "closed"
  | "not_found"
  | "cloud_failed";

/** An action that ended at this bridge: how (`delivered` means the lock took the command), unix ms. */
export interface RecentAction {
  actionId: string;
  lockId: string;
  action: string;
  outcome: ActionOutcome;
  at: number;
}

const RECENT_KEPT = 10;

interface ActionRow {
  action_id: string;
  lock_id: string;
  action: string;
  expires_at: number;
}

export interface ActionRunnerOptions {
  /** Whether an MQTT lock can take a command now (connected to the broker). */
  reachable(lockId: string): boolean;
  /** A command to an MQTT lock and its result (code `timeout` when none comes). */
  mqtt(lockId: string, request: CommandRequest): Promise<CommandResult>;
  /** A BLE lock has an action waiting for its next visit. */
  blePending(lockId: string): void;
}

/**
 * Carries the cloud's remote actions to locks (docs/bridge-api.md "Remote actions", docs/trust.md "Remote command").
 * The bridge holds nothing that could make or alter a command: it asks the lock for a fresh command nonce, hands the
 * nonce to the cloud, which signs `(lock, nonce, counter, action)` with the lock holder's authority, and carries the
 * signed bytes back to the lock, which verifies them itself. Success is only ever the lock's word (its `unlocked` /
 * `locked` event, bound to the nonce, in a sealed report); the bridge reports only failures: the lock unreachable,
 * or refusing (its verdict code). Actions are kept in `actions` with the feed cursor that brought them (durable), and
 * marked `started` before the first step, so a restart never carries one twice; nothing is carried or retried after
 * `expiresAt`. MQTT locks get theirs at once; a BLE lock's wait for its next visit.
 */
export class ActionRunner {
  private readonly abort = new AbortController();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<string>();
  private readonly outcomes: Partial<Record<ActionOutcome, number>> = {};
  private readonly recentOutcomes: RecentAction[] = [];
  private stopped = false;
  private readonly sql;

  constructor(
    db: Db,
    private readonly cloud: CloudClient,
    private readonly registry: LockRegistry,
    private readonly options: ActionRunnerOptions,
    private readonly backoff: () => Backoff,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    /** Unix milliseconds (the bridge's clock: `expiresAt` is the cloud's time). */
    private readonly now: () => number,
  ) {
    this.sql = {
      pending: db.prepare(
        "SELECT action_id, lock_id, action, expires_at FROM actions WHERE state = 'pending' ORDER BY received_at, action_id",
      ),
      pendingFor: db.prepare(
        "SELECT action_id, lock_id, action, expires_at FROM actions WHERE state = 'pending' AND lock_id = ? ORDER BY received_at, action_id",
      ),
      mark: db.prepare("UPDATE actions SET state = ? WHERE action_id = ?"),
      claim: db.prepare("UPDATE actions SET state = 'started' WHERE action_id = ? AND state = 'pending'"),
      prune: db.prepare("DELETE FROM actions WHERE expires_at < ?"),
      count: db.prepare("SELECT COUNT(*) AS n FROM actions WHERE state = 'pending'"),
    };
  }

  get status(): { pending: number; inFlight: number; outcomes: Partial<Record<ActionOutcome, number>> } {
    return {
      pending: (this.sql.count.get() as { n: number }).n,
      inFlight: this.inFlight.size,
      outcomes: { ...this.outcomes },
    };
  }

  /** The last actions that ended here, newest first (the status page). */
  recent(): RecentAction[] {
    return this.recentOutcomes.map((a) => ({ ...a }));
  }

  /** Carries every pending action an MQTT lock can take now; BLE locks' wait for a visit. At start and after a feed page. */
  schedule(): void {
    if (this.stopped) return;
    for (const row of this.sql.pending.all() as ActionRow[]) {
      if (this.inFlight.has(row.action_id)) continue;
      if (this.expired(row)) continue;
      if (this.registry.get(row.lock_id)?.transport === "ble") {
        this.options.blePending(row.lock_id);
        continue;
      }
      if (!this.claim(row)) continue;
      this.enqueue(row, async () => {
        if (!this.options.reachable(row.lock_id)) {
          await this.fail(row, "unreachable", "the lock is not connected to the bridge", "unreachable");
          return;
        }
        await this.carry(row, (request) => this.options.mqtt(row.lock_id, request));
      });
    }
  }

  /** A BLE lock is connected now: carries its pending actions through `courier` (the visit waits for them). */
  async visit(lockId: string, courier: LockCourier): Promise<void> {
    for (const row of this.sql.pendingFor.all(lockId) as ActionRow[]) {
      if (this.stopped) return;
      if (this.expired(row) || !this.claim(row)) continue;
      this.inFlight.add(row.action_id);
      try {
        await this.carry(row, courier);
      } finally {
        this.inFlight.delete(row.action_id);
      }
    }
  }

  /** Forgets actions an hour past their expiry (kept until then so a feed read again does not bring them back). */
  prune(): number {
    return this.sql.prune.run(this.now() - 3_600_000).changes;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await Promise.all([...this.chains.values()]);
  }

  /** Past `expiresAt`: marked done unread, nothing carried (the cloud expires it). */
  private expired(row: ActionRow): boolean {
    if (this.now() < row.expires_at) return false;
    this.sql.mark.run("done", row.action_id);
    this.count(row, "expired");
    return true;
  }

  /** Marks the action started; false when something else already took it. */
  private claim(row: ActionRow): boolean {
    return this.sql.claim.run(row.action_id).changes > 0;
  }

  /** Actions of one lock go one after the other: a command's counter must reach the lock before the next one's. */
  private enqueue(row: ActionRow, work: () => Promise<void>): void {
    this.inFlight.add(row.action_id);
    const previous = this.chains.get(row.lock_id) ?? Promise.resolve();
    const next = previous
      .then(work)
      .catch((e: Error) => this.logger.error({ actionId: row.action_id, err: e.message }, "remote action failed"))
      .finally(() => {
        this.inFlight.delete(row.action_id);
        if (this.chains.get(row.lock_id) === next) this.chains.delete(row.lock_id);
      });
    this.chains.set(row.lock_id, next);
  }

  private async carry(row: ActionRow, courier: LockCourier): Promise<void> {
    const nonce = await courier({ type: "command_nonce" });
    if (!nonce.ok || !nonce.nonce) {
      const code = nonce.code ?? "no_nonce";
      await this.fail(row, code, nonce.message ?? "the lock gave no command nonce", outcomeOf(code));
      return;
    }
    if (this.expired(row)) return;
    let command: Uint8Array;
    try {
      command = (
        await this.retrying(row, (signal) => this.cloud.actionCommand(row.action_id, row.lock_id, nonce.nonce!, signal))
      ).command;
    } catch (e) {
      this.sql.mark.run("done", row.action_id);
      const status = e instanceof CloudError ? e.status : 0;
      const outcome: ActionOutcome = status === 404 ? "not_found" : status === 409 ? "closed" : "cloud_failed";
      this.count(row, outcome);
      this.logger.warn(
        { actionId: row.action_id, lockId: row.lock_id, outcome, err: (e as Error).message },
        "the cloud gave no command for a remote action",
      );
      return;
    }
    if (this.expired(row)) return;
    const result = await courier({ type: "remote", command });
    if (result.ok) {
      this.sql.mark.run("done", row.action_id);
      this.count(row, "delivered");
      this.logger.info(
        { actionId: row.action_id, lockId: row.lock_id, action: row.action },
        "carried a remote action to the lock",
      );
      return;
    }
    const code = result.code ?? "refused";
    await this.fail(row, code, result.message ?? "the lock refused the command", outcomeOf(code));
  }

  /** Tells the cloud the action failed (with the lock's code, or why it could not be carried). */
  private async fail(row: ActionRow, code: string, message: string, outcome: ActionOutcome): Promise<void> {
    this.sql.mark.run("done", row.action_id);
    this.count(row, outcome);
    this.logger.warn({ actionId: row.action_id, lockId: row.lock_id, code, message }, "a remote action failed");
    try {
      await this.retrying(row, (signal) => this.cloud.actionResult(row.action_id, { code, message }, signal));
    } catch (e) {
      this.logger.warn(
        { actionId: row.action_id, err: (e as Error).message },
        "could not report a failed remote action (the cloud expires it)",
      );
    }
  }

  /** A cloud call retried with backoff while it may succeed and the action has not expired. */
  private async retrying<T>(row: ActionRow, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const backoff = this.backoff();
    for (;;) {
      try {
        return await call(this.abort.signal);
      } catch (e) {
        const delay = backoff.next();
        const retry = e instanceof CloudError && e.retryable && this.now() + delay < row.expires_at && !this.stopped;
        if (!retry) throw e;
        this.metrics.cloudErrors.inc({ operation: "actions" });
        await sleep(delay, this.abort.signal);
      }
    }
  }

  private count(row: ActionRow, outcome: ActionOutcome): void {
    this.metrics.actions.inc({ result: outcome });
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
    this.recentOutcomes.unshift({
      actionId: row.action_id,
      lockId: row.lock_id,
      action: row.action,
      outcome,
      at: this.now(),
    });
    this.recentOutcomes.length = Math.min(this.recentOutcomes.length, RECENT_KEPT);
    if (outcome === "expired")
      this.logger.info(
        { actionId: row.action_id, lockId: row.lock_id },
        "a remote action expired before it was carried",
      );
  }
}

/** A lock that did not answer was unreachable; any other code is its refusal. */
const outcomeOf = (code: string): ActionOutcome => (code === "timeout" ? "unreachable" : "refused");
