import type Database from "better-sqlite3";
import { UnknownCursorError } from "../errors.js";
import type {
  Address,
  BatteryRecord,
  ChangeKind,
  ChangeRecord,
  KeyRecord,
  KeyStatus,
  LockRecord,
  Page,
  PageRequest,
  VendorConnectionRecord,
} from "../records.js";
import type { ChangeRepo, KeyRepo, LockRepo, LockSort, VendorConnectionRepo } from "../store.js";
import { prep, toPage } from "./paging.js";

// biome-ignore lint/suspicious/noExplicitAny: rows come untyped from SQLite and are mapped field by field here
type Row = any;

const connection = (r: Row): VendorConnectionRecord => ({
  id: r.id,
  lockHolderId: r.lock_holder_id,
  vendor: r.vendor,
  username: r.username,
  credentialSalt: r.credential_salt,
  credentialDigest: r.credential_digest,
  bridgeId: r.bridge_id,
  state: r.state,
  reason: r.reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  deletedAt: r.deleted_at,
});

export class SqliteVendorConnections implements VendorConnectionRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(v: VendorConnectionRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO vendor_connections (id, lock_holder_id, vendor, username, credential_salt, credential_digest,
           bridge_id, state, reason, created_at, updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      v.id,
      v.lockHolderId,
      v.vendor,
      v.username,
      v.credentialSalt,
      v.credentialDigest,
      v.bridgeId,
      v.state,
      v.reason,
      v.createdAt,
      v.updatedAt,
      v.deletedAt,
    );
  }
  async get(id: string): Promise<VendorConnectionRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM vendor_connections WHERE id = ?").get(id);
    return r && connection(r);
  }
  async list(lockHolderId: string, page: PageRequest): Promise<Page<VendorConnectionRecord>> {
    const rows = prep(
      this.db,
      "SELECT * FROM vendor_connections WHERE lock_holder_id = ? AND deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?",
    ).all(lockHolderId, page.startAfterId ?? "", page.limit + 1);
    return toPage(rows, page.limit, connection, (v) => v.id);
  }
  async liveWithUsername(integratorId: string, vendor: string, username: string): Promise<VendorConnectionRecord[]> {
    return prep(
      this.db,
      `SELECT vc.* FROM vendor_connections vc JOIN lock_holders lh ON lh.id = vc.lock_holder_id
         WHERE lh.integrator_id = ? AND vc.vendor = ? AND vc.username = ? AND vc.deleted_at IS NULL`,
    )
      .all(integratorId, vendor, username)
      .map(connection);
  }
  async update(
    id: string,
    patch: Partial<Pick<VendorConnectionRecord, "state" | "reason" | "credentialSalt" | "credentialDigest">>,
    at: number,
  ): Promise<void> {
    const columns: Record<string, string> = {
      state: "state",
      reason: "reason",
      credentialSalt: "credential_salt",
      credentialDigest: "credential_digest",
    };
    for (const [field, column] of Object.entries(columns)) {
      const value = (patch as Record<string, unknown>)[field];
      if (value !== undefined) prep(this.db, `UPDATE vendor_connections SET ${column} = ? WHERE id = ?`).run(value, id);
    }
    prep(this.db, "UPDATE vendor_connections SET updated_at = ? WHERE id = ?").run(at, id);
  }
  async markDeleted(id: string, at: number): Promise<void> {
    prep(
      this.db,
      "UPDATE vendor_connections SET deleted_at = ?, updated_at = ?, state = 'disconnected' WHERE id = ?",
    ).run(at, at, id);
  }
  async idsForBridge(bridgeId: string): Promise<string[]> {
    return prep(this.db, "SELECT id FROM vendor_connections WHERE bridge_id = ?")
      .all(bridgeId)
      .map((r: Row) => r.id);
  }
}

const lock = (r: Row): LockRecord => ({
  id: r.id,
  lockHolderId: r.lock_holder_id,
  vendorConnectionId: r.vendor_connection_id,
  vendor: r.vendor,
  name: r.name,
  imageUrl: r.image_url,
  address: r.address === null ? null : (JSON.parse(r.address) as Address),
  timezone: r.timezone,
  createdAt: r.created_at,
  removedAt: r.removed_at,
  battery:
    r.battery_level === null
      ? null
      : {
          level: r.battery_level,
          mv: r.battery_mv,
          state: r.battery_state,
          tsS: r.battery_ts_s,
          updatedAt: r.battery_updated_at,
        },
  online: r.online === 1,
  presenceTsS: r.presence_ts_s,
  eventSeq: r.event_seq,
});

export class SqliteLocks implements LockRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(l: LockRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO locks (id, lock_holder_id, vendor_connection_id, vendor, name, image_url, address, timezone,
           created_at, removed_at, online) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      l.id,
      l.lockHolderId,
      l.vendorConnectionId,
      l.vendor,
      l.name,
      l.imageUrl,
      l.address === null ? null : JSON.stringify(l.address),
      l.timezone,
      l.createdAt,
      l.removedAt,
      l.online ? 1 : 0,
    );
  }
  async get(id: string): Promise<LockRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM locks WHERE id = ?").get(id);
    return r && lock(r);
  }
  async list(
    lockHolderId: string,
    page: PageRequest,
    sort: LockSort,
    order: "asc" | "desc",
  ): Promise<Page<LockRecord>> {
    const column = sort === "name" ? "name" : "created_at";
    const dir = order === "asc" ? "ASC" : "DESC";
    const cmp = order === "asc" ? ">" : "<";
    let rows: Row[];
    if (page.startAfterId === undefined) {
      rows = prep(
        this.db,
        `SELECT * FROM locks WHERE lock_holder_id = ? AND removed_at IS NULL ORDER BY ${column} ${dir}, id ${dir} LIMIT ?`,
      ).all(lockHolderId, page.limit + 1);
    } else {
      const after: Row = prep(
        this.db,
        `SELECT ${column} AS k, id FROM locks WHERE id = ? AND lock_holder_id = ? AND removed_at IS NULL`,
      ).get(page.startAfterId, lockHolderId);
      if (!after) throw new UnknownCursorError(page.startAfterId);
      rows = prep(
        this.db,
        `SELECT * FROM locks WHERE lock_holder_id = ? AND removed_at IS NULL
             AND (${column} ${cmp} ? OR (${column} = ? AND id ${cmp} ?))
           ORDER BY ${column} ${dir}, id ${dir} LIMIT ?`,
      ).all(lockHolderId, after.k, after.k, after.id, page.limit + 1);
    }
    return toPage(rows, page.limit, lock, (l) => l.id);
  }
  async listForConnection(vendorConnectionId: string): Promise<LockRecord[]> {
    return prep(this.db, "SELECT * FROM locks WHERE vendor_connection_id = ? AND removed_at IS NULL ORDER BY id")
      .all(vendorConnectionId)
      .map(lock);
  }
  async update(
    id: string,
    patch: { name?: string; imageUrl?: string | null; address?: Address | null; timezone?: string | null },
  ): Promise<void> {
    if (patch.name !== undefined) prep(this.db, "UPDATE locks SET name = ? WHERE id = ?").run(patch.name, id);
    if (patch.imageUrl !== undefined)
      prep(this.db, "UPDATE locks SET image_url = ? WHERE id = ?").run(patch.imageUrl, id);
    if (patch.timezone !== undefined)
      prep(this.db, "UPDATE locks SET timezone = ? WHERE id = ?").run(patch.timezone, id);
    if (patch.address !== undefined)
      prep(this.db, "UPDATE locks SET address = ? WHERE id = ?").run(
        patch.address === null ? null : JSON.stringify(patch.address),
        id,
      );
  }
  async reassign(
    id: string,
    lockHolderId: string,
    vendorConnectionId: string,
    vendor: LockRecord["vendor"],
    name: string,
    at: number,
  ): Promise<void> {
    prep(
      this.db,
      `UPDATE locks SET lock_holder_id = ?, vendor_connection_id = ?, vendor = ?, name = ?, removed_at = NULL,
           created_at = ?, address = NULL, image_url = NULL, battery_level = NULL, battery_mv = NULL,
           battery_state = NULL, battery_ts_s = NULL, battery_updated_at = NULL, online = 0, presence_ts_s = NULL
         WHERE id = ?`,
    ).run(lockHolderId, vendorConnectionId, vendor, name, at, id);
  }
  async markRemoved(id: string, at: number): Promise<void> {
    prep(this.db, "UPDATE locks SET removed_at = ?, online = 0 WHERE id = ? AND removed_at IS NULL").run(at, id);
  }
  async setBattery(id: string, b: BatteryRecord): Promise<void> {
    prep(
      this.db,
      `UPDATE locks SET battery_level = ?, battery_mv = ?, battery_state = ?, battery_ts_s = ?, battery_updated_at = ?
         WHERE id = ? AND (battery_ts_s IS NULL OR battery_ts_s <= ?)`,
    ).run(b.level, b.mv, b.state, b.tsS, b.updatedAt, id, b.tsS);
  }
  async setPresence(id: string, online: boolean, tsS: number): Promise<void> {
    prep(
      this.db,
      "UPDATE locks SET online = ?, presence_ts_s = ? WHERE id = ? AND (presence_ts_s IS NULL OR presence_ts_s <= ?)",
    ).run(online ? 1 : 0, tsS, id, tsS);
  }
  async nextEventSeq(id: string): Promise<number> {
    const r: Row = prep(this.db, "UPDATE locks SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq").get(id);
    return r.event_seq;
  }
}

const key = (r: Row): KeyRecord => ({
  id: r.id,
  lockHolderId: r.lock_holder_id,
  lockId: r.lock_id,
  cti: r.cti,
  userId: r.user_id,
  startAt: r.start_at,
  endAt: r.end_at,
  status: r.status,
  error: r.error,
  revokedAt: r.revoked_at,
  metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as Record<string, unknown>),
  jobId: r.job_id,
  createdAt: r.created_at,
});

export class SqliteKeys implements KeyRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(k: KeyRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO keys (id, lock_holder_id, lock_id, cti, user_id, start_at, end_at, status, error, revoked_at,
           metadata, job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      k.id,
      k.lockHolderId,
      k.lockId,
      k.cti,
      k.userId,
      k.startAt,
      k.endAt,
      k.status,
      k.error,
      k.revokedAt,
      k.metadata === null ? null : JSON.stringify(k.metadata),
      k.jobId,
      k.createdAt,
    );
  }
  async get(id: string): Promise<KeyRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM keys WHERE id = ?").get(id);
    return r && key(r);
  }
  async getByCti(cti: string): Promise<KeyRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM keys WHERE cti = ?").get(cti);
    return r && key(r);
  }
  async list(lockHolderId: string, page: PageRequest): Promise<Page<KeyRecord>> {
    const rows = prep(this.db, "SELECT * FROM keys WHERE lock_holder_id = ? AND id > ? ORDER BY id LIMIT ?").all(
      lockHolderId,
      page.startAfterId ?? "",
      page.limit + 1,
    );
    return toPage(rows, page.limit, key, (k) => k.id);
  }
  async usableForUser(userId: string, now: number): Promise<KeyRecord[]> {
    return prep(
      this.db,
      `SELECT k.* FROM keys k JOIN locks l ON l.id = k.lock_id AND l.lock_holder_id = k.lock_holder_id
         WHERE k.user_id = ? AND k.status = 'created' AND (k.end_at IS NULL OR k.end_at > ?) AND l.removed_at IS NULL
         ORDER BY k.id`,
    )
      .all(userId, now)
      .map(key);
  }
  async liveForLock(lockId: string): Promise<KeyRecord[]> {
    return prep(this.db, "SELECT * FROM keys WHERE lock_id = ? AND status IN ('created', 'creating') ORDER BY id")
      .all(lockId)
      .map(key);
  }
  async revokedCtisForLock(lockId: string): Promise<string[]> {
    return prep(this.db, "SELECT cti FROM keys WHERE lock_id = ? AND status = 'revoked'")
      .all(lockId)
      .map((r: Row) => r.cti);
  }
  async setStatus(
    id: string,
    status: KeyStatus,
    fields: { error?: string | null; revokedAt?: number | null },
  ): Promise<void> {
    prep(
      this.db,
      "UPDATE keys SET status = ?, error = COALESCE(?, error), revoked_at = COALESCE(?, revoked_at) WHERE id = ?",
    ).run(status, fields.error ?? null, fields.revokedAt ?? null, id);
  }
}

export class SqliteChanges implements ChangeRepo {
  constructor(private readonly db: Database.Database) {}
  async append(
    kind: ChangeKind,
    lockHolderId: string,
    vendorConnectionId: string | null,
    payload: Record<string, unknown>,
    at: number,
  ): Promise<number> {
    const r = prep(
      this.db,
      "INSERT INTO changes (kind, lock_holder_id, vendor_connection_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
    ).run(kind, lockHolderId, vendorConnectionId, JSON.stringify(payload), at);
    return Number(r.lastInsertRowid);
  }
  async forBridge(bridgeId: string, lockHolderId: string, afterSeq: number, limit: number): Promise<ChangeRecord[]> {
    return prep(
      this.db,
      `SELECT * FROM changes WHERE seq > ? AND (
           vendor_connection_id IN (SELECT id FROM vendor_connections WHERE bridge_id = ?)
           OR (kind = 'issuer' AND lock_holder_id = ?))
         ORDER BY seq LIMIT ?`,
    )
      .all(afterSeq, bridgeId, lockHolderId, limit)
      .map((r: Row) => ({
        seq: r.seq,
        kind: r.kind,
        lockHolderId: r.lock_holder_id,
        vendorConnectionId: r.vendor_connection_id,
        payload: JSON.parse(r.payload) as Record<string, unknown>,
        createdAt: r.created_at,
      }));
  }
}
