import { EventEmitter } from "node:events";
import type { BatteryState, LockState } from "@latchkey/protocol";
import type { Db } from "../store/database.js";
import type { WriteBatcher } from "../store/write-batcher.js";

export type LockTransport = "mqtt" | "ble";

export interface LockInfo {
  lockId: string;
  /** The cloud assigned this lock to one of this bridge's vendor connections (change feed `lock`, not removed). */
  assigned: boolean;
  lockHolderId: string | null;
  vendorConnectionId: string | null;
  desiredV: number;
  reportedV: number;
  /** How the bridge reaches it; null until the lock has been seen. */
  transport: LockTransport | null;
  online: boolean;
  lockState: LockState | null;
  battery: { level: number; mv: number; state: BatteryState } | null;
}

interface Row {
  lock_id: string;
  assigned: number;
  lock_holder_id: string | null;
  vendor_connection_id: string | null;
  desired_v: number;
  reported_v: number;
  transport: LockTransport | null;
  online: number;
  lock_state: LockState | null;
  battery_level: number | null;
  battery_mv: number | null;
  battery_state: BatteryState | null;
}

const fromRow = (r: Row): LockInfo => ({
  lockId: r.lock_id,
  assigned: r.assigned === 1,
  lockHolderId: r.lock_holder_id,
  vendorConnectionId: r.vendor_connection_id,
  desiredV: r.desired_v,
  reportedV: r.reported_v,
  transport: r.transport,
  online: r.online === 1,
  lockState: r.lock_state,
  battery:
    r.battery_level === null || r.battery_mv === null || r.battery_state === null
      ? null
      : { level: r.battery_level, mv: r.battery_mv, state: r.battery_state },
});

export interface RegistryEvents {
  /** First time the bridge reaches this lock (or over another transport): found-lock reports change. */
  seen: [lockId: string];
  online: [lockId: string];
  offline: [lockId: string];
  /** Lock state or battery changed (Home Assistant state). */
  state: [lockId: string];
}

/**
 * Every lock the bridge knows of, in memory (one small record per lock) and in the `locks` table. The feed writes
 * assignment and desired versions to the table and calls `reload`; messages from locks update the rest here.
 */
export class LockRegistry extends EventEmitter<RegistryEvents> {
  private readonly locks = new Map<string, LockInfo>();
  private readonly sql;

  constructor(
    db: Db,
    private readonly batcher: WriteBatcher,
  ) {
    super();
    this.sql = {
      byId: db.prepare("SELECT * FROM locks WHERE lock_id = ?"),
      create: db.prepare("INSERT OR IGNORE INTO locks (lock_id) VALUES (?)"),
      seen: db.prepare(
        `UPDATE locks SET transport = ?, last_seen_at = ?, first_seen_at = COALESCE(first_seen_at, ?) WHERE lock_id = ?`,
      ),
      online: db.prepare("UPDATE locks SET online = ? WHERE lock_id = ?"),
      reported: db.prepare("UPDATE locks SET reported_v = MAX(reported_v, ?) WHERE lock_id = ?"),
      // Never past the safe integers (docs/mqtt.md): a version above them cannot go on the wire.
      raise: db.prepare(
        `UPDATE locks SET desired_v = MIN(MAX(desired_v + 1, ?), ${Number.MAX_SAFE_INTEGER}) WHERE lock_id = ?`,
      ),
      lockState: db.prepare("UPDATE locks SET lock_state = ? WHERE lock_id = ?"),
      battery: db.prepare("UPDATE locks SET battery_level = ?, battery_mv = ?, battery_state = ? WHERE lock_id = ?"),
    };
    // Presence is re-learnt from the locks after a restart.
    db.prepare("UPDATE locks SET online = 0 WHERE online = 1").run();
    for (const row of db.prepare("SELECT * FROM locks").iterate() as Iterable<Row>) {
      this.locks.set(row.lock_id, fromRow(row));
    }
  }

  get(lockId: string): LockInfo | undefined {
    return this.locks.get(lockId);
  }

  all(): IterableIterator<LockInfo> {
    return this.locks.values();
  }

  get size(): number {
    return this.locks.size;
  }

  countOnline(): number {
    let n = 0;
    for (const l of this.locks.values()) if (l.online) n++;
    return n;
  }

  /** Re-reads rows the feed changed. */
  reload(lockIds: Iterable<string>): void {
    for (const id of lockIds) {
      const row = this.sql.byId.get(id) as Row | undefined;
      const current = this.locks.get(id);
      if (!row) {
        this.locks.delete(id);
        continue;
      }
      const next = fromRow(row);
      // What locks reported is fresher in memory than in the table (written by group commit).
      if (current) {
        next.online = current.online;
        next.reportedV = Math.max(next.reportedV, current.reportedV);
        next.transport = current.transport ?? next.transport;
        next.lockState = current.lockState ?? next.lockState;
        next.battery = current.battery ?? next.battery;
      }
      this.locks.set(id, next);
    }
  }

  private ensure(lockId: string): LockInfo {
    let lock = this.locks.get(lockId);
    if (!lock) {
      lock = {
        lockId,
        assigned: false,
        lockHolderId: null,
        vendorConnectionId: null,
        desiredV: 0,
        reportedV: 0,
        transport: null,
        online: false,
        lockState: null,
        battery: null,
      };
      this.locks.set(lockId, lock);
      void this.batcher.run(() => this.sql.create.run(lockId)).catch(() => {});
    }
    return lock;
  }

  /** The lock was reached over `transport`. */
  async markSeen(lockId: string, transport: LockTransport, now: number): Promise<void> {
    const lock = this.ensure(lockId);
    const isNew = lock.transport !== transport;
    lock.transport = transport;
    await this.batcher.run(() => {
      this.sql.create.run(lockId);
      this.sql.seen.run(transport, now, now, lockId);
    });
    if (isNew) this.emit("seen", lockId);
  }

  async setOnline(lockId: string, online: boolean): Promise<void> {
    const lock = this.ensure(lockId);
    if (lock.online === online) return;
    lock.online = online;
    this.emit(online ? "online" : "offline", lockId);
    await this.batcher.run(() => {
      this.sql.online.run(online ? 1 : 0, lockId);
    });
  }

  /** A reported sync version; answers true when it is above the desired one (the bridge lost state). */
  async setReported(lockId: string, v: number): Promise<boolean> {
    const lock = this.ensure(lockId);
    if (v <= lock.reportedV) return v > lock.desiredV;
    lock.reportedV = v;
    await this.batcher.run(() => {
      this.sql.reported.run(v, lockId);
    });
    return v > lock.desiredV;
  }

  /**
   * Raises the desired version to at least `atLeast` (after a lock reported more than the bridge knew), never past
   * Number.MAX_SAFE_INTEGER.
   */
  raiseDesired(lockId: string, atLeast: number): void {
    this.sql.raise.run(Math.min(atLeast, Number.MAX_SAFE_INTEGER), lockId);
    this.reload([lockId]);
  }

  async setLockState(lockId: string, state: LockState): Promise<void> {
    const lock = this.ensure(lockId);
    if (lock.lockState === state) return;
    lock.lockState = state;
    this.emit("state", lockId);
    await this.batcher.run(() => {
      this.sql.lockState.run(state, lockId);
    });
  }

  async setBattery(lockId: string, battery: { level: number; mv: number; state: BatteryState }): Promise<void> {
    const lock = this.ensure(lockId);
    const same =
      lock.battery?.level === battery.level && lock.battery.mv === battery.mv && lock.battery.state === battery.state;
    lock.battery = battery;
    if (same) return;
    this.emit("state", lockId);
    await this.batcher.run(() => {
      this.sql.battery.run(battery.level, battery.mv, battery.state, lockId);
    });
  }
}
