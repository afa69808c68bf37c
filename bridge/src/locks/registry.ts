import { EventEmitter } from "node:events";
import type { BatteryState, LockState } from "@latchkey/protocol";
import { columnGroup } from "@latchkey/runtime";
import type { Db } from "../store/database.js";
import type { WriteBatcher } from "../store/write-batcher.js";

export type LockTransport = "mqtt" | "ble";

/** A lock's public keys, from its retained `keys` message or a BLE `ping` (protocol `encodeLockKeys`). */
export interface LockKeys {
  identity: Uint8Array;
  x25519: Uint8Array;
}

export interface LockInfo {
  lockId: string;
  /** The cloud assigned this lock to one of this bridge's vendor connections (change feed `lock`, not removed). */
  assigned: boolean;
  lockHolderId: string | null;
  vendorConnectionId: string | null;
  /** Claimed by the lock holder of its vendor connection (change feed `lock`); null when the cloud has not said. */
  claimed: boolean | null;
  /** How the bridge reaches it; null until the lock has been seen. */
  transport: LockTransport | null;
  online: boolean;
  lockState: LockState | null;
  battery: { level: number; mv: number; state: BatteryState } | null;
  /**
   * The lock's public keys as it published them, carried to the cloud beside its reports. A courier's copy: the cloud
   * believes them only when they match the lock's setup code (docs/bridge-api.md "Reports from the lock").
   */
  keys: LockKeys | null;
  /** Unix ms the bridge last reached the lock (a connection, a BLE visit), as stored; null when never. */
  lastSeenAt: number | null;
}

interface Row {
  lock_id: string;
  assigned: number;
  lock_holder_id: string | null;
  vendor_connection_id: string | null;
  claimed: number | null;
  transport: LockTransport | null;
  online: number;
  lock_state: LockState | null;
  battery_level: number | null;
  battery_mv: number | null;
  battery_state: BatteryState | null;
  identity_key: Uint8Array | null;
  x25519_key: Uint8Array | null;
  last_seen_at: number | null;
}

const fromRow = (r: Row): LockInfo => {
  const keys = columnGroup({ identity: r.identity_key, x25519: r.x25519_key });
  return {
    lockId: r.lock_id,
    assigned: r.assigned === 1,
    lockHolderId: r.lock_holder_id,
    vendorConnectionId: r.vendor_connection_id,
    claimed: r.claimed === null ? null : r.claimed === 1,
    transport: r.transport,
    online: r.online === 1,
    lockState: r.lock_state,
    battery: columnGroup({ level: r.battery_level, mv: r.battery_mv, state: r.battery_state }),
    keys: keys && { identity: new Uint8Array(keys.identity), x25519: new Uint8Array(keys.x25519) },
    lastSeenAt: r.last_seen_at,
  };
};

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

export interface RegistryEvents {
  /** First time the bridge reaches this lock (or over another transport): found-lock reports change. */
  seen: [lockId: string];
  online: [lockId: string];
  offline: [lockId: string];
  /** Lock state or battery changed (Home Assistant state). */
  state: [lockId: string];
  /** The lock published other public keys than the ones kept (a factory reset makes new ones). */
  keys: [lockId: string];
}

/**
 * Every lock the bridge knows of, in memory (one small record per lock) and in the `locks` table. The feed writes
 * assignment and claims to the table and calls `reload`; messages from locks update the rest here.
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
      keys: db.prepare("UPDATE locks SET identity_key = ?, x25519_key = ? WHERE lock_id = ?"),
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
        next.keys = current.keys ?? next.keys;
        next.transport = current.transport ?? next.transport;
        next.lockState = current.lockState ?? next.lockState;
        next.battery = current.battery ?? next.battery;
        next.lastSeenAt = current.lastSeenAt ?? next.lastSeenAt;
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
        claimed: null,
        transport: null,
        online: false,
        lockState: null,
        battery: null,
        keys: null,
        lastSeenAt: null,
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
    lock.lastSeenAt = now;
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

  /**
   * The lock's public keys (its `keys` message, a BLE `ping`), kept in the table so they survive a restart. Answers
   * whether they differ from the ones kept before (none kept counts as no change).
   */
  async setKeys(lockId: string, keys: LockKeys): Promise<boolean> {
    const lock = this.ensure(lockId);
    const before = lock.keys;
    if (before && sameBytes(before.identity, keys.identity) && sameBytes(before.x25519, keys.x25519)) return false;
    lock.keys = { identity: new Uint8Array(keys.identity), x25519: new Uint8Array(keys.x25519) };
    await this.batcher.run(() => {
      this.sql.create.run(lockId);
      this.sql.keys.run(lock.keys!.identity, lock.keys!.x25519, lockId);
    });
    if (before) this.emit("keys", lockId);
    return before !== null;
  }

  /** How many locks the bridge holds public keys of. */
  countKeys(): number {
    let n = 0;
    for (const l of this.locks.values()) if (l.keys) n++;
    return n;
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
