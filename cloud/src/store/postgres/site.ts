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
import type { Sql } from "./sql.js";

/** Builds `UPDATE <table> SET a = $1, b = $2 … WHERE id = $n` from the given fields, columns from a fixed list. */
function updateById(
  table: string,
  columns: Record<string, string>,
  patch: object,
  extra: Record<string, unknown> = {},
) {
  const sets: string[] = [];
  const values: unknown[] = [];
  for (const [field, value] of Object.entries({ ...patch, ...extra })) {
    const column = columns[field];
    if (column === undefined || value === undefined) continue;
    values.push(value);
    sets.push(`${column} = $${values.length}`);
  }
  return {
    text: `UPDATE ${table} SET ${sets.join(", ")} WHERE id = $${values.length + 1}`,
    values,
    empty: sets.length === 0,
  };
}

export class PgVendorConnections implements VendorConnectionRepo {
  constructor(private readonly sql: Sql) {}
  async insert(v: VendorConnectionRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO vendor_connections (id, lock_holder_id, vendor, username, credential_salt, credential_digest,
           bridge_id, state, reason, created_at, updated_at, deleted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
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
    const r = await this.sql.one("SELECT * FROM vendor_connections WHERE id = $1", [id]);
    return r && vendorConnectionRow(r);
  }
  async getMany(ids: readonly string[]): Promise<VendorConnectionRecord[]> {
    if (ids.length === 0) return [];
    return (await this.sql.all("SELECT * FROM vendor_connections WHERE id = ANY($1::text[])", [ids])).map(
      vendorConnectionRow,
    );
  }
  async list(lockHolderId: string, page: PageRequest): Promise<Page<VendorConnectionRecord>> {
    const rows = await this.sql.all(
      `SELECT * FROM vendor_connections WHERE lock_holder_id = $1 AND deleted_at IS NULL AND id > $2
         ORDER BY id LIMIT $3`,
      [lockHolderId, page.startAfterId ?? "", page.limit + 1],
    );
    return toPage(rows, page.limit, vendorConnectionRow, (v) => v.id);
  }
  async liveWithUsername(integratorId: string, vendor: string, username: string): Promise<VendorConnectionRecord[]> {
    const rows = await this.sql.all(
      `SELECT vc.* FROM vendor_connections vc JOIN lock_holders lh ON lh.id = vc.lock_holder_id
         WHERE lh.integrator_id = $1 AND vc.vendor = $2 AND vc.username = $3 AND vc.deleted_at IS NULL`,
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
    const { text, values } = updateById("vendor_connections", columns, patch, { updatedAt: at });
    await this.sql.run(text, [...values, id]);
  }
  async markDeleted(id: string, at: number): Promise<void> {
    await this.sql.run(
      "UPDATE vendor_connections SET deleted_at = $1, updated_at = $1, state = 'disconnected' WHERE id = $2",
      [at, id],
    );
  }
  async idsForBridge(bridgeId: string): Promise<string[]> {
    return (await this.sql.all("SELECT id FROM vendor_connections WHERE bridge_id = $1", [bridgeId])).map(
      (r: Row) => r.id,
    );
  }
}

export class PgLocks implements LockRepo {
  constructor(private readonly sql: Sql) {}
  async insert(l: LockRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO locks (id, lock_holder_id, vendor_connection_id, vendor, name, image_url, address, timezone,
           created_at, removed_at, online) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
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
      ],
    );
  }
  async get(id: string): Promise<LockRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM locks WHERE id = $1", [id]);
    return r && lockRow(r);
  }
  async getMany(ids: readonly string[]): Promise<LockRecord[]> {
    if (ids.length === 0) return [];
    return (await this.sql.all("SELECT * FROM locks WHERE id = ANY($1::text[])", [ids])).map(lockRow);
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
        `SELECT * FROM locks WHERE lock_holder_id = $1 AND removed_at IS NULL ORDER BY ${column} ${dir}, id ${dir} LIMIT $2`,
        [lockHolderId, page.limit + 1],
      );
    } else {
      const after = await this.sql.one(
        `SELECT ${column} AS k, id FROM locks WHERE id = $1 AND lock_holder_id = $2 AND removed_at IS NULL`,
        [page.startAfterId, lockHolderId],
      );
      if (!after) throw new UnknownCursorError(page.startAfterId);
      rows = await this.sql.all(
        `SELECT * FROM locks WHERE lock_holder_id = $1 AND removed_at IS NULL
             AND (${column} ${cmp} $2 OR (${column} = $2 AND id ${cmp} $3))
           ORDER BY ${column} ${dir}, id ${dir} LIMIT $4`,
        [lockHolderId, after.k, after.id, page.limit + 1],
      );
    }
    return toPage(rows, page.limit, lockRow, (l) => l.id);
  }
  async listForConnection(vendorConnectionId: string): Promise<LockRecord[]> {
    const rows = await this.sql.all(
      "SELECT * FROM locks WHERE vendor_connection_id = $1 AND removed_at IS NULL ORDER BY id",
      [vendorConnectionId],
    );
    return rows.map(lockRow);
  }
  async update(
    id: string,
    patch: { name?: string; imageUrl?: string | null; address?: Address | null; timezone?: string | null },
  ): Promise<void> {
    const columns = { name: "name", imageUrl: "image_url", timezone: "timezone", address: "address" };
    const fields = { ...patch, ...(patch.address !== undefined ? { address: jsonText(patch.address) } : {}) };
    const { text, values, empty } = updateById("locks", columns, fields);
    if (!empty) await this.sql.run(text, [...values, id]);
  }
  async reassign(
    id: string,
    lockHolderId: string,
    vendorConnectionId: string,
    vendor: LockRecord["vendor"],
    name: string,
    at: number,
  ): Promise<void> {
    await this.sql.run(
      `UPDATE locks SET lock_holder_id = $1, vendor_connection_id = $2, vendor = $3, name = $4, removed_at = NULL,
           created_at = $5, address = NULL, image_url = NULL, battery_level = NULL, battery_mv = NULL,
           battery_state = NULL, battery_ts_s = NULL, battery_updated_at = NULL, online = 0, presence_ts_s = NULL
         WHERE id = $6`,
      [lockHolderId, vendorConnectionId, vendor, name, at, id],
    );
  }
  async markRemoved(id: string, at: number): Promise<void> {
    await this.sql.run("UPDATE locks SET removed_at = $1, online = 0 WHERE id = $2 AND removed_at IS NULL", [at, id]);
  }
  async setBattery(id: string, b: BatteryRecord): Promise<void> {
    await this.sql.run(
      `UPDATE locks SET battery_level = $1, battery_mv = $2, battery_state = $3, battery_ts_s = $4,
           battery_updated_at = $5
         WHERE id = $6 AND (battery_ts_s IS NULL OR battery_ts_s <= $4)`,
      [b.level, b.mv, b.state, b.tsS, b.updatedAt, id],
    );
  }
  async setPresence(id: string, online: boolean, tsS: number): Promise<void> {
    await this.sql.run(
      "UPDATE locks SET online = $1, presence_ts_s = $2 WHERE id = $3 AND (presence_ts_s IS NULL OR presence_ts_s <= $2)",
      [online ? 1 : 0, tsS, id],
    );
  }
  async nextEventSeq(id: string): Promise<number> {
    const r = await this.sql.one("UPDATE locks SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq", [id]);
    return r.event_seq;
  }
}

const KEY_COLUMNS =
  "id, lock_holder_id, lock_id, cti, user_id, start_at, end_at, status, error, revoked_at, metadata, job_id, created_at, user_name";

export class PgKeys implements KeyRepo {
  constructor(private readonly sql: Sql) {}
  async insert(k: KeyRecord): Promise<void> {
    await this.insertMany([k]);
  }
  async insertMany(keys: readonly KeyRecord[]): Promise<void> {
    if (keys.length === 0) return;
    // One statement for the whole list: a column per array, unnested into rows.
    const column = <T>(f: (k: KeyRecord) => T) => keys.map(f);
    await this.sql.run(
      `INSERT INTO keys (${KEY_COLUMNS})
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
           $8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[], $13::bigint[], $14::text[])`,
      [
        column((k) => k.id),
        column((k) => k.lockHolderId),
        column((k) => k.lockId),
        column((k) => k.cti),
        column((k) => k.userId),
        column((k) => k.startAt),
        column((k) => k.endAt),
        column((k) => k.status),
        column((k) => k.error),
        column((k) => k.revokedAt),
        column((k) => jsonText(k.metadata)),
        column((k) => k.jobId),
        column((k) => k.createdAt),
        column((k) => k.userName),
      ],
    );
  }
  async get(id: string): Promise<KeyRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM keys WHERE id = $1", [id]);
    return r && keyRow(r);
  }
  async getMany(ids: readonly string[]): Promise<KeyRecord[]> {
    if (ids.length === 0) return [];
    return (await this.sql.all("SELECT * FROM keys WHERE id = ANY($1::text[])", [ids])).map(keyRow);
  }
  async getByCti(cti: string): Promise<KeyRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM keys WHERE cti = $1", [cti]);
    return r && keyRow(r);
  }
  async getManyByCti(ctis: readonly string[]): Promise<KeyRecord[]> {
    if (ctis.length === 0) return [];
    return (await this.sql.all("SELECT * FROM keys WHERE cti = ANY($1::text[])", [ctis])).map(keyRow);
  }
  async list(lockHolderId: string, page: PageRequest, filter: KeyFilter = {}): Promise<Page<KeyRecord>> {
    const values: unknown[] = [lockHolderId, page.startAfterId ?? ""];
    const param = (v: unknown) => {
      values.push(v);
      return `$${values.length}`;
    };
    const where = keyConditions(filter, param).map((w) => ` AND ${w}`);
    const rows = await this.sql.all(
      `SELECT * FROM keys WHERE lock_holder_id = $1 AND id > $2${where.join("")} ORDER BY id LIMIT ${param(page.limit + 1)}`,
      values,
    );
    return toPage(rows, page.limit, keyRow, (k) => k.id);
  }
  async usableForUser(userId: string, now: number): Promise<KeyRecord[]> {
    const rows = await this.sql.all(
      `SELECT k.* FROM keys k JOIN locks l ON l.id = k.lock_id AND l.lock_holder_id = k.lock_holder_id
         WHERE k.user_id = $1 AND k.status = 'created' AND (k.end_at IS NULL OR k.end_at > $2) AND l.removed_at IS NULL
         ORDER BY k.id`,
      [userId, now],
    );
    return rows.map(keyRow);
  }
  async liveForLock(lockId: string): Promise<KeyRecord[]> {
    const rows = await this.sql.all(
      "SELECT * FROM keys WHERE lock_id = $1 AND status IN ('created', 'creating') ORDER BY id",
      [lockId],
    );
    return rows.map(keyRow);
  }
  async revokedCtisForLock(lockId: string): Promise<string[]> {
    return (await this.sql.all("SELECT cti FROM keys WHERE lock_id = $1 AND status = 'revoked'", [lockId])).map(
      (r: Row) => r.cti,
    );
  }
  async revokedForLock(lockId: string, lockHolderId: string): Promise<RevokedKeyRecord[]> {
    const rows = await this.sql.all(
      `SELECT cti, revoked_at, max_token_exp_s FROM keys WHERE lock_id = $1 AND lock_holder_id = $2 AND status = 'revoked'
         ORDER BY revoked_at, cti`,
      [lockId, lockHolderId],
    );
    return rows.map((r: Row) => ({
      cti: r.cti,
      revokedAt: r.revoked_at ?? 0,
      maxTokenExpS: r.max_token_exp_s ?? null,
    }));
  }
  async setStatus(
    id: string,
    status: KeyStatus,
    fields: { error?: string | null; revokedAt?: number | null },
  ): Promise<void> {
    await this.sql.run(
      "UPDATE keys SET status = $1, error = COALESCE($2, error), revoked_at = COALESCE($3, revoked_at) WHERE id = $4",
      [status, fields.error ?? null, fields.revokedAt ?? null, id],
    );
  }
  async raiseMaxTokenExp(id: string, expS: number): Promise<void> {
    await this.sql.run(
      "UPDATE keys SET max_token_exp_s = $1 WHERE id = $2 AND (max_token_exp_s IS NULL OR max_token_exp_s < $1)",
      [expS, id],
    );
  }
  async markCreated(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.sql.run("UPDATE keys SET status = 'created' WHERE id = ANY($1::text[]) AND status = 'creating'", [ids]);
  }
}

/** Per database; the key is hashed with the schema, so deployments (or tests) in other schemas do not wait on it. */
const FEED_LOCK = "latchkey-cloud:changes:";
export const FEED_CHANNEL = "latchkey_changes";

export class PgChanges implements ChangeRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Identity values are handed out at insert, not at commit: two transactions appending at once could commit seq 11
   * before seq 10, and a bridge that read 11 would resume past 10 for ever. So appending takes a transaction-scoped
   * advisory lock first, held until commit: appenders queue, and seqs become visible in order. The same statement
   * queues a NOTIFY, which PostgreSQL delivers only if and when the transaction commits.
   */
  private async lockFeed(): Promise<void> {
    if (this.sql.changesLocked) return;
    await this.sql.one(
      "SELECT pg_advisory_xact_lock(hashtext($1::text || current_schema())), pg_notify($2::text, current_schema()::text)",
      [FEED_LOCK, FEED_CHANNEL],
    );
    this.sql.changesLocked = true;
  }

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
    if (changes.length === 0) return [];
    await this.lockFeed();
    const rows = await this.sql.all(
      `INSERT INTO changes (kind, lock_holder_id, vendor_connection_id, payload, created_at)
         SELECT kind, lh, vc, payload, at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY
             AS c(kind, lh, vc, payload, at, i)
           ORDER BY i
         RETURNING seq`,
      [
        changes.map((c) => c.kind),
        changes.map((c) => c.lockHolderId),
        changes.map((c) => c.vendorConnectionId),
        changes.map((c) => JSON.stringify(c.payload)),
        changes.map((c) => c.at),
      ],
    );
    return rows.map((r: Row) => r.seq as number).sort((a, b) => a - b);
  }

  async forBridge(bridgeId: string, lockHolderId: string, afterSeq: number, limit: number): Promise<ChangeRecord[]> {
    const rows = await this.sql.all(
      `SELECT * FROM changes WHERE seq > $1 AND (
           vendor_connection_id IN (SELECT id FROM vendor_connections WHERE bridge_id = $2)
           OR (kind = 'issuer' AND lock_holder_id = $3))
         ORDER BY seq LIMIT $4`,
      [afterSeq, bridgeId, lockHolderId, limit],
    );
    return rows.map(changeRow);
  }
}
