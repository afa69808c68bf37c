import { UnknownCursorError } from "../errors.js";
import { keyConditions } from "../filters.js";
import {
  type Address,
  type BatteryRecord,
  type ChangeKind,
  type ChangeRecord,
  type KeyRecord,
  type KeyStateTracking,
  type KeyStatus,
  keyStateTracking,
  type LockRecord,
  type Page,
  type PageRequest,
  type RevokedKeyRecord,
  type VendorConnectionRecord,
} from "../records.js";
import { changeRow, jsonText, keyRow, lockRow, type Row, toPage, vendorConnectionRow } from "../rows.js";
import { type Column, rowsWhereAnyOf, type Sql } from "../sql.js";
import type {
  ChangeRepo,
  EditedKeyFields,
  KeyFilter,
  KeyRepo,
  LockRepo,
  LockSort,
  NewChange,
  VendorConnectionRepo,
} from "../store.js";

/**
 * Writes the given fields of one row in one statement (`UPDATE <table> SET a = ?, b = ? … WHERE id = ?`), the columns
 * from a fixed list; nothing when no field is given.
 */
async function updateById(
  sql: Sql,
  table: string,
  id: string,
  columns: Record<string, string>,
  fields: Record<string, unknown>,
): Promise<void> {
  const sets: string[] = [];
  const values: unknown[] = [];
  for (const [field, column] of Object.entries(columns)) {
    const value = fields[field];
    if (value === undefined) continue;
    sets.push(`${column} = ?`);
    values.push(value);
  }
  if (sets.length > 0) await sql.run(`UPDATE ${table} SET ${sets.join(", ")} WHERE id = ?`, [...values, id]);
}

export class VendorConnections implements VendorConnectionRepo {
  constructor(private readonly sql: Sql) {}
  async insert(v: VendorConnectionRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO vendor_connections (id, lock_holder_id, vendor, username, credential_salt, credential_digest,
           bridge_id, state, reason, created_at, updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
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
      ],
    );
  }
  async get(id: string): Promise<VendorConnectionRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM vendor_connections WHERE id = ?", [id]);
    return r && vendorConnectionRow(r);
  }
  async getMany(ids: readonly string[]): Promise<VendorConnectionRecord[]> {
    return (await rowsWhereAnyOf(this.sql, "vendor_connections", "id", ids)).map(vendorConnectionRow);
  }
  async list(lockHolderId: string, page: PageRequest): Promise<Page<VendorConnectionRecord>> {
    const rows = await this.sql.all(
      `SELECT * FROM vendor_connections WHERE lock_holder_id = ? AND deleted_at IS NULL AND id > ?
         ORDER BY id LIMIT ?`,
      [lockHolderId, page.startAfterId ?? "", page.limit + 1],
    );
    return toPage(rows, page.limit, vendorConnectionRow, (v) => v.id);
  }
  async liveWithUsername(integratorId: string, vendor: string, username: string): Promise<VendorConnectionRecord[]> {
    const rows = await this.sql.all(
      `SELECT vc.* FROM vendor_connections vc JOIN lock_holders lh ON lh.id = vc.lock_holder_id
         WHERE lh.integrator_id = ? AND vc.vendor = ? AND vc.username = ? AND vc.deleted_at IS NULL`,
      [integratorId, vendor, username],
    );
    return rows.map(vendorConnectionRow);
  }
  async update(
    id: string,
    patch: Partial<Pick<VendorConnectionRecord, "state" | "reason" | "credentialSalt" | "credentialDigest">>,
    at: number,
  ): Promise<void> {
    const columns = {
      state: "state",
      reason: "reason",
      credentialSalt: "credential_salt",
      credentialDigest: "credential_digest",
      updatedAt: "updated_at",
    };
    await updateById(this.sql, "vendor_connections", id, columns, { ...patch, updatedAt: at });
  }
  async markDeleted(id: string, at: number): Promise<void> {
    await this.sql.run(
      "UPDATE vendor_connections SET deleted_at = ?, updated_at = ?, state = 'disconnected' WHERE id = ?",
      [at, at, id],
    );
  }
  async idsForBridge(bridgeId: string): Promise<string[]> {
    const rows = await this.sql.all("SELECT id FROM vendor_connections WHERE bridge_id = ?", [bridgeId]);
    return rows.map((r: Row) => r.id);
  }
}

export class Locks implements LockRepo {
  constructor(private readonly sql: Sql) {}
  async insert(l: LockRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO locks (id, lock_holder_id, vendor_connection_id, vendor, name, image_url, address, timezone,
           created_at, removed_at, online, presence_announced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
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
        // A lock starts as it is shown: its first presence is not a change.
        l.online ? 1 : 0,
      ],
    );
  }
  async get(id: string): Promise<LockRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM locks WHERE id = ?", [id]);
    return r && lockRow(r);
  }
  async getMany(ids: readonly string[]): Promise<LockRecord[]> {
    return (await rowsWhereAnyOf(this.sql, "locks", "id", ids)).map(lockRow);
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
      rows = await this.sql.all(
        `SELECT * FROM locks WHERE lock_holder_id = ? AND removed_at IS NULL ORDER BY ${column} ${dir}, id ${dir} LIMIT ?`,
        [lockHolderId, page.limit + 1],
      );
    } else {
      const after = await this.sql.get(
        `SELECT ${column} AS k, id FROM locks WHERE id = ? AND lock_holder_id = ? AND removed_at IS NULL`,
        [page.startAfterId, lockHolderId],
      );
      if (!after) throw new UnknownCursorError(page.startAfterId);
      // A row comparison, which both databases use as the index range (lock_holder_id = ? AND (k, id) > (?, ?)).
      // Written as `k > ? OR (k = ? AND id > ?)` it was only a filter: each page read the holder's locks from the
      // first to the cursor (488 ms at the middle of 95k locks against 2.5 ms; issue 17, scripts/README "fifth pass").
      rows = await this.sql.all(
        `SELECT * FROM locks WHERE lock_holder_id = ? AND removed_at IS NULL AND (${column}, id) ${cmp} (?, ?)
           ORDER BY ${column} ${dir}, id ${dir} LIMIT ?`,
        [lockHolderId, after.k, after.id, page.limit + 1],
      );
    }
    return toPage(rows, page.limit, lockRow, (l) => l.id);
  }
  async listForConnection(vendorConnectionId: string): Promise<LockRecord[]> {
    const rows = await this.sql.all(
      "SELECT * FROM locks WHERE vendor_connection_id = ? AND removed_at IS NULL ORDER BY id",
      [vendorConnectionId],
    );
    return rows.map(lockRow);
  }
  async update(
    id: string,
    patch: { name?: string; imageUrl?: string | null; address?: Address | null; timezone?: string | null },
  ): Promise<void> {
    const columns = { name: "name", imageUrl: "image_url", timezone: "timezone", address: "address" };
    const address = patch.address === undefined ? undefined : jsonText(patch.address);
    await updateById(this.sql, "locks", id, columns, { ...patch, address });
  }
  async reassign(
    ...[id, lockHolderId, vendorConnectionId, vendor, name, at]: Parameters<LockRepo["reassign"]>
  ): Promise<void> {
    await this.sql.run(
      `UPDATE locks SET lock_holder_id = ?, vendor_connection_id = ?, vendor = ?, name = ?, removed_at = NULL,
           created_at = ?, address = NULL, image_url = NULL, battery_level = NULL, battery_mv = NULL,
           battery_state = NULL, battery_ts_s = NULL, battery_updated_at = NULL, online = 0, presence_ts_s = NULL,
           bridge_silent_since = NULL, presence_announced = 0, presence_announced_at = NULL, presence_due_at = NULL
         WHERE id = ?`,
      [lockHolderId, vendorConnectionId, vendor, name, at, id],
    );
  }
  async markRemoved(id: string, at: number): Promise<void> {
    await this.sql.run(
      "UPDATE locks SET removed_at = ?, online = 0, presence_due_at = NULL WHERE id = ? AND removed_at IS NULL",
      [at, id],
    );
  }
  async setBattery(id: string, b: BatteryRecord): Promise<void> {
    await this.sql.run(
      `UPDATE locks SET battery_level = ?, battery_mv = ?, battery_state = ?, battery_ts_s = ?, battery_updated_at = ?
         WHERE id = ? AND (battery_ts_s IS NULL OR battery_ts_s <= ?)`,
      [b.level, b.mv, b.state, b.tsS, b.updatedAt, id, b.tsS],
    );
  }
  async setPresence(id: string, online: boolean, tsS: number): Promise<void> {
    await this.sql.run(
      "UPDATE locks SET online = ?, presence_ts_s = ? WHERE id = ? AND (presence_ts_s IS NULL OR presence_ts_s <= ?)",
      [online ? 1 : 0, tsS, id, tsS],
    );
  }
  async reportedOnlineOfSilentBridges(
    cutoff: number,
    limit: number,
  ): Promise<{ lock: LockRecord; lastSeenAt: number | null }[]> {
    const rows = await this.sql.all(
      `SELECT l.*, b.last_seen_at AS bridge_last_seen_at FROM bridges b
         JOIN vendor_connections v ON v.bridge_id = b.id AND v.deleted_at IS NULL
         JOIN locks l ON l.vendor_connection_id = v.id
         WHERE (b.last_seen_at IS NULL OR b.last_seen_at < ?) AND l.removed_at IS NULL AND l.online = 1
           AND l.bridge_silent_since IS NULL
         ORDER BY l.id LIMIT ?`,
      [cutoff, limit],
    );
    return rows.map((r) => ({ lock: lockRow(r), lastSeenAt: r.bridge_last_seen_at ?? null }));
  }
  async silentOfBridge(bridgeId: string): Promise<LockRecord[]> {
    const rows = await this.sql.all(
      `SELECT l.* FROM vendor_connections v JOIN locks l ON l.vendor_connection_id = v.id
         WHERE v.bridge_id = ? AND l.bridge_silent_since IS NOT NULL AND l.removed_at IS NULL ORDER BY l.id`,
      [bridgeId],
    );
    return rows.map(lockRow);
  }
  async markBridgeSilent(id: string, since: number, cutoff: number): Promise<boolean> {
    const written = await this.sql.run(
      `UPDATE locks SET bridge_silent_since = ? WHERE id = ? AND bridge_silent_since IS NULL
         AND EXISTS (SELECT 1 FROM vendor_connections v JOIN bridges b ON b.id = v.bridge_id
                       WHERE v.id = locks.vendor_connection_id AND (b.last_seen_at IS NULL OR b.last_seen_at < ?))`,
      [since, id, cutoff],
    );
    return written === 1;
  }
  async clearBridgeSilent(id: string): Promise<void> {
    await this.sql.run("UPDATE locks SET bridge_silent_since = NULL WHERE id = ?", [id]);
  }
  async setPresenceAnnounced(id: string, online: boolean, at: number, expectedAt: number | null): Promise<boolean> {
    // -1 stands for "never announced", so one comparison serves both (no NULL-safe equality needed).
    const written = await this.sql.run(
      `UPDATE locks SET presence_announced = ?, presence_announced_at = ?, presence_due_at = NULL
         WHERE id = ? AND COALESCE(presence_announced_at, -1) = ?`,
      [online ? 1 : 0, at, id, expectedAt ?? -1],
    );
    return written === 1;
  }
  async setPresenceDue(id: string, at: number | null): Promise<void> {
    await this.sql.run("UPDATE locks SET presence_due_at = ? WHERE id = ?", [at, id]);
  }
  async presenceDue(now: number, limit: number): Promise<LockRecord[]> {
    const rows = await this.sql.all(
      "SELECT * FROM locks WHERE presence_due_at <= ? ORDER BY presence_due_at, id LIMIT ?",
      [now, limit],
    );
    return rows.map(lockRow);
  }
  async nextEventSeq(id: string): Promise<number> {
    const r = await this.sql.get("UPDATE locks SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq", [id]);
    return r.event_seq;
  }
}

const KEY_COLUMNS: readonly Column[] = [
  ["id", "text"],
  ["lock_holder_id", "text"],
  ["lock_id", "text"],
  ["cti", "text"],
  ["user_id", "text"],
  ["user_name", "text"],
  ["start_at", "bigint"],
  ["end_at", "bigint"],
  ["status", "text"],
  ["error", "text"],
  ["revoked_at", "bigint"],
  ["metadata", "text"],
  ["job_id", "text"],
  ["created_at", "bigint"],
  ["recurrence", "text"],
  ["edited_at", "bigint"],
  ["revoke_before", "bigint"],
  ["revoke_until_s", "bigint"],
  ["state_notified", "text"],
  ["state_next_at", "bigint"],
];

export class Keys implements KeyRepo {
  constructor(private readonly sql: Sql) {}
  async insert(k: KeyRecord): Promise<void> {
    await this.insertMany([k]);
  }
  async insertMany(keys: readonly KeyRecord[]): Promise<void> {
    await this.sql.insertRows(
      "keys",
      KEY_COLUMNS,
      keys.map((k) => [
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
        jsonText(k.recurrence),
        k.editedAt,
        k.revokeBefore,
        k.revokeUntilS,
        ...tracked(k),
      ]),
    );
  }
  async dueStateChanges(now: number, limit: number): Promise<{ key: KeyRecord; notified: string }[]> {
    const rows = await this.sql.all(
      `SELECT * FROM keys WHERE state_next_at <= ? AND status = 'created' AND state_notified IS NOT NULL
         ORDER BY state_next_at, id LIMIT ?`,
      [now, limit],
    );
    return rows.map((r) => ({ key: keyRow(r), notified: r.state_notified as string }));
  }
  async setStateTracking(id: string, tracking: KeyStateTracking, expected?: string): Promise<boolean> {
    const written = await this.sql.run(
      `UPDATE keys SET state_notified = ?, state_next_at = ? WHERE id = ?${expected === undefined ? "" : " AND state_notified = ?"}`,
      [tracking.notified, tracking.nextAt, id, ...(expected === undefined ? [] : [expected])],
    );
    return written === 1;
  }
  async get(id: string): Promise<KeyRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM keys WHERE id = ?", [id]);
    return r && keyRow(r);
  }
  async getMany(ids: readonly string[]): Promise<KeyRecord[]> {
    return (await rowsWhereAnyOf(this.sql, "keys", "id", ids)).map(keyRow);
  }
  async getByCti(cti: string): Promise<KeyRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM keys WHERE cti = ?", [cti]);
    return r && keyRow(r);
  }
  async getManyByCti(ctis: readonly string[]): Promise<KeyRecord[]> {
    return (await rowsWhereAnyOf(this.sql, "keys", "cti", ctis)).map(keyRow);
  }
  async list(lockHolderId: string, page: PageRequest, filter: KeyFilter = {}): Promise<Page<KeyRecord>> {
    const values: unknown[] = [lockHolderId, page.startAfterId ?? ""];
    const where = keyConditions(filter, (v) => {
      values.push(v);
      return "?";
    });
    // Planned with its values at each call (Sql.allPlannedPerCall): after five pages filtered by lock and user,
    // PostgreSQL kept a generic plan on keys_user_page that read every key of the user to find the lock's few (1.5 s
    // against 0.7 ms for a user with 300k keys; issue 17, scripts/README.md "fifth pass").
    const rows = await this.sql.allPlannedPerCall(
      `SELECT * FROM keys WHERE lock_holder_id = ? AND id > ?${where.map((w) => ` AND ${w}`).join("")} ORDER BY id LIMIT ?`,
      [...values, page.limit + 1],
    );
    return toPage(rows, page.limit, keyRow, (k) => k.id);
  }
  async usableForUser(userId: string, now: number): Promise<KeyRecord[]> {
    const rows = await this.sql.all(
      `SELECT k.* FROM keys k JOIN locks l ON l.id = k.lock_id AND l.lock_holder_id = k.lock_holder_id
         WHERE k.user_id = ? AND k.status = 'created' AND (k.end_at IS NULL OR k.end_at > ?) AND l.removed_at IS NULL
         ORDER BY k.id`,
      [userId, now],
    );
    return rows.map(keyRow);
  }
  async liveForLock(lockId: string): Promise<KeyRecord[]> {
    const rows = await this.sql.all(
      "SELECT * FROM keys WHERE lock_id = ? AND status IN ('created', 'creating') ORDER BY id",
      [lockId],
    );
    return rows.map(keyRow);
  }
  async revokedForLock(lockId: string, lockHolderId: string): Promise<RevokedKeyRecord[]> {
    const rows = await this.sql.all(
      `SELECT cti, status, revoked_at, revoke_before, revoke_until_s, max_token_exp_s FROM keys
         WHERE lock_id = ? AND lock_holder_id = ? AND (status = 'revoked' OR revoke_before IS NOT NULL)
         ORDER BY cti`,
      [lockId, lockHolderId],
    );
    const revoked = rows.map((r: Row): RevokedKeyRecord => {
      const whole = r.status === "revoked";
      return {
        cti: r.cti,
        revokedAt: whole ? (r.revoked_at ?? 0) : r.revoke_before * 1000,
        ...(whole ? {} : { before: r.revoke_before }),
        // An edit's entry outlives only the tokens minted before it, not those minted since.
        maxTokenExpS: (whole ? r.max_token_exp_s : r.revoke_until_s) ?? null,
      };
    });
    return revoked.sort((a, b) => a.revokedAt - b.revokedAt || (a.cti < b.cti ? -1 : a.cti > b.cti ? 1 : 0));
  }
  async edit(id: string, fields: EditedKeyFields): Promise<void> {
    await this.sql.run(
      `UPDATE keys SET start_at = ?, end_at = ?, recurrence = ?, metadata = ?, user_name = ?, edited_at = ?,
         revoke_before = ?, revoke_until_s = ? WHERE id = ?`,
      [
        fields.startAt,
        fields.endAt,
        jsonText(fields.recurrence),
        jsonText(fields.metadata),
        fields.userName,
        fields.editedAt,
        fields.revokeBefore,
        fields.revokeUntilS,
        id,
      ],
    );
  }
  async setStatus(
    id: string,
    status: KeyStatus,
    fields: { error?: string | null; revokedAt?: number | null },
  ): Promise<void> {
    await this.sql.run(
      "UPDATE keys SET status = ?, error = COALESCE(?, error), revoked_at = COALESCE(?, revoked_at) WHERE id = ?",
      [status, fields.error ?? null, fields.revokedAt ?? null, id],
    );
  }
  async raiseMaxTokenExp(id: string, expS: number): Promise<void> {
    await this.sql.run(
      "UPDATE keys SET max_token_exp_s = ? WHERE id = ? AND (max_token_exp_s IS NULL OR max_token_exp_s < ?)",
      [expS, id, expS],
    );
  }
  async markCreated(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const { dialect } = this.sql;
    await this.sql.run(`UPDATE keys SET status = 'created' WHERE ${dialect.anyOf("id")} AND status = 'creating'`, [
      dialect.list(ids),
    ]);
  }
}

export class Changes implements ChangeRepo {
  constructor(private readonly sql: Sql) {}
  async append(
    kind: ChangeKind,
    lockHolderId: string,
    vendorConnectionId: string | null,
    payload: Record<string, unknown>,
    at: number,
  ): Promise<number> {
    const [seq] = await this.appendMany([{ kind, lockHolderId, vendorConnectionId, payload, at }]);
    return seq!;
  }
  async appendMany(changes: readonly NewChange[]): Promise<number[]> {
    return this.sql.appendChanges(
      changes.map((c) => [c.kind, c.lockHolderId, c.vendorConnectionId, JSON.stringify(c.payload), c.at]),
    );
  }
  /**
   * A page of the bridge's feed: its connections' entries and its lock holder's issuer entries after `afterSeq`. One
   * index range per connection and one for the issuer entries, each read in seq order and cut at `limit`, then merged:
   * a page reads at most (connections + 1) × limit rows however long the feed. As one `… IN (…) OR …` both databases
   * read every entry after the cursor and sorted them per page, so a new bridge's catch-up grew with the square of the
   * feed (issue 17 item 3: 100k keys 5.7 s, 1M keys minutes).
   */
  async forBridge(bridgeId: string, lockHolderId: string, afterSeq: number, limit: number): Promise<ChangeRecord[]> {
    const connections = await this.sql.all("SELECT id FROM vendor_connections WHERE bridge_id = ? ORDER BY id", [
      bridgeId,
    ]);
    const branch = (where: string) =>
      `SELECT * FROM (SELECT * FROM changes WHERE ${where} AND seq > ? ORDER BY seq LIMIT ?) AS c`;
    const parts = [
      ...connections.map(() => branch("vendor_connection_id = ?")),
      branch("lock_holder_id = ? AND kind = 'issuer'"),
    ];
    const values = [...connections.flatMap((c: Row) => [c.id, afterSeq, limit]), lockHolderId, afterSeq, limit];
    // UNION, not UNION ALL: an issuer entry that also named one of the connections is still one entry.
    const rows = await this.sql.all(`SELECT * FROM (${parts.join(" UNION ")}) AS page ORDER BY seq LIMIT ?`, [
      ...values,
      limit,
    ]);
    return rows.map(changeRow);
  }
}

/** A new key's state tracking, as of its creation (store/records.ts keyStateTracking). */
function tracked(k: KeyRecord): [string | null, number | null] {
  const t = keyStateTracking(k, k.createdAt);
  return [t.notified, t.nextAt];
}
