import type Database from "better-sqlite3";
import { UnknownCursorError } from "../errors.js";
import { keyConditions } from "../filters.js";
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
  RevokedKeyRecord,
  VendorConnectionRecord,
} from "../records.js";
import { changeRow, jsonText, keyRow, lockRow, type Row, toPage, vendorConnectionRow } from "../rows.js";
import type { ChangeRepo, KeyFilter, KeyRepo, LockRepo, LockSort, NewChange, VendorConnectionRepo } from "../store.js";
import { prep } from "./statements.js";

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
    return r && vendorConnectionRow(r);
  }
  async getMany(ids: readonly string[]): Promise<VendorConnectionRecord[]> {
    return ids.flatMap((id) => {
      const r: Row = prep(this.db, "SELECT * FROM vendor_connections WHERE id = ?").get(id);
      return r ? [vendorConnectionRow(r)] : [];
    });
  }
  async list(lockHolderId: string, page: PageRequest): Promise<Page<VendorConnectionRecord>> {
    const rows = prep(
      this.db,
      "SELECT * FROM vendor_connections WHERE lock_holder_id = ? AND deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?",
    ).all(lockHolderId, page.startAfterId ?? "", page.limit + 1);
    return toPage(rows, page.limit, vendorConnectionRow, (v) => v.id);
  }
  async liveWithUsername(integratorId: string, vendor: string, username: string): Promise<VendorConnectionRecord[]> {
    return prep(
      this.db,
      `SELECT vc.* FROM vendor_connections vc JOIN lock_holders lh ON lh.id = vc.lock_holder_id
         WHERE lh.integrator_id = ? AND vc.vendor = ? AND vc.username = ? AND vc.deleted_at IS NULL`,
    )
      .all(integratorId, vendor, username)
      .map(vendorConnectionRow);
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
      jsonText(l.address),
      l.timezone,
      l.createdAt,
      l.removedAt,
      l.online ? 1 : 0,
    );
  }
  async get(id: string): Promise<LockRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM locks WHERE id = ?").get(id);
    return r && lockRow(r);
  }
  async getMany(ids: readonly string[]): Promise<LockRecord[]> {
    return ids.flatMap((id) => {
      const r: Row = prep(this.db, "SELECT * FROM locks WHERE id = ?").get(id);
      return r ? [lockRow(r)] : [];
    });
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
    return toPage(rows, page.limit, lockRow, (l) => l.id);
  }
  async listForConnection(vendorConnectionId: string): Promise<LockRecord[]> {
    return prep(this.db, "SELECT * FROM locks WHERE vendor_connection_id = ? AND removed_at IS NULL ORDER BY id")
      .all(vendorConnectionId)
      .map(lockRow);
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
      prep(this.db, "UPDATE locks SET address = ? WHERE id = ?").run(jsonText(patch.address), id);
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

export class SqliteKeys implements KeyRepo {
  constructor(private readonly db: Database.Database) {}
  async insertMany(keys: readonly KeyRecord[]): Promise<void> {
    for (const k of keys) await this.insert(k);
  }
  async getMany(ids: readonly string[]): Promise<KeyRecord[]> {
    return ids.flatMap((id) => {
      const r: Row = prep(this.db, "SELECT * FROM keys WHERE id = ?").get(id);
      return r ? [keyRow(r)] : [];
    });
  }
  async markCreated(ids: readonly string[]): Promise<void> {
    const statement = prep(this.db, "UPDATE keys SET status = 'created' WHERE id = ? AND status = 'creating'");
    for (const id of ids) statement.run(id);
  }
  async insert(k: KeyRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO keys (id, lock_holder_id, lock_id, cti, user_id, user_name, start_at, end_at, status, error,
           revoked_at, metadata, job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      k.id,
      k.lockHolderId,
      k.lockId,
      k.cti,
      k.userId,
      k.userName,
      k.startAt,
      k.endAt,
      k.status,
      k.error,
      k.revokedAt,
      jsonText(k.metadata),
      k.jobId,
      k.createdAt,
    );
  }
  async get(id: string): Promise<KeyRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM keys WHERE id = ?").get(id);
    return r && keyRow(r);
  }
  async getByCti(cti: string): Promise<KeyRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM keys WHERE cti = ?").get(cti);
    return r && keyRow(r);
  }
  async getManyByCti(ctis: readonly string[]): Promise<KeyRecord[]> {
    return ctis.flatMap((cti) => {
      const r: Row = prep(this.db, "SELECT * FROM keys WHERE cti = ?").get(cti);
      return r ? [keyRow(r)] : [];
    });
  }
  async list(lockHolderId: string, page: PageRequest, filter: KeyFilter = {}): Promise<Page<KeyRecord>> {
    const values: unknown[] = [lockHolderId, page.startAfterId ?? ""];
    const where = keyConditions(filter, (v) => {
      values.push(v);
      return "?";
    });
    const rows = prep(
      this.db,
      `SELECT * FROM keys WHERE lock_holder_id = ? AND id > ?${where.map((w) => ` AND ${w}`).join("")} ORDER BY id LIMIT ?`,
    ).all(...values, page.limit + 1);
    return toPage(rows, page.limit, keyRow, (k) => k.id);
  }
  async usableForUser(userId: string, now: number): Promise<KeyRecord[]> {
    return prep(
      this.db,
      `SELECT k.* FROM keys k JOIN locks l ON l.id = k.lock_id AND l.lock_holder_id = k.lock_holder_id
         WHERE k.user_id = ? AND k.status = 'created' AND (k.end_at IS NULL OR k.end_at > ?) AND l.removed_at IS NULL
         ORDER BY k.id`,
    )
      .all(userId, now)
      .map(keyRow);
  }
  async liveForLock(lockId: string): Promise<KeyRecord[]> {
    return prep(this.db, "SELECT * FROM keys WHERE lock_id = ? AND status IN ('created', 'creating') ORDER BY id")
      .all(lockId)
      .map(keyRow);
  }
  async revokedCtisForLock(lockId: string): Promise<string[]> {
    return prep(this.db, "SELECT cti FROM keys WHERE lock_id = ? AND status = 'revoked'")
      .all(lockId)
      .map((r: Row) => r.cti);
  }
  async revokedForLock(lockId: string, lockHolderId: string): Promise<RevokedKeyRecord[]> {
    return prep(
      this.db,
      `SELECT cti, revoked_at, max_token_exp_s FROM keys WHERE lock_id = ? AND lock_holder_id = ? AND status = 'revoked'
         ORDER BY revoked_at, cti`,
    )
      .all(lockId, lockHolderId)
      .map((r: Row) => ({ cti: r.cti, revokedAt: r.revoked_at ?? 0, maxTokenExpS: r.max_token_exp_s ?? null }));
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
  async raiseMaxTokenExp(id: string, expS: number): Promise<void> {
    prep(
      this.db,
      "UPDATE keys SET max_token_exp_s = ? WHERE id = ? AND (max_token_exp_s IS NULL OR max_token_exp_s < ?)",
    ).run(expS, id, expS);
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
  async appendMany(changes: readonly NewChange[]): Promise<number[]> {
    const seqs: number[] = [];
    for (const c of changes)
      seqs.push(await this.append(c.kind, c.lockHolderId, c.vendorConnectionId, c.payload, c.at));
    return seqs;
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
      .map(changeRow);
  }
}
