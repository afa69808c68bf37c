import type Database from "better-sqlite3";
import { UnknownCursorError } from "../errors.js";
import { eventConditions } from "../filters.js";
import type {
  DeliveryRecord,
  EventRecord,
  JobRecord,
  JobResult,
  JobStatus,
  Page,
  PageRequest,
  TelemetryRecord,
  WebhookRecord,
} from "../records.js";
import { deliveryRow, eventRow, jobRow, type Row, toPage, webhookRow } from "../rows.js";
import type { DeliveryRepo, EventPageRequest, EventRepo, JobRepo, TelemetryRepo, WebhookRepo } from "../store.js";
import { prep } from "./statements.js";

export class SqliteEvents implements EventRepo {
  constructor(private readonly db: Database.Database) {}
  async insertIfNew(e: EventRecord): Promise<boolean> {
    const r = prep(
      this.db,
      `INSERT INTO events (id, lock_holder_id, lock_id, seq, ts_s, type, cti, key_id, user_id, code, dropped, v, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ).run(
      e.id,
      e.lockHolderId,
      e.lockId,
      e.seq,
      e.tsS,
      e.type,
      e.cti,
      e.keyId,
      e.userId,
      e.code,
      e.dropped,
      e.v,
      e.receivedAt,
    );
    return r.changes === 1;
  }
  async insertManyIfNew(events: readonly EventRecord[]): Promise<Set<string>> {
    const stored = new Set<string>();
    for (const e of events) if (await this.insertIfNew(e)) stored.add(e.id);
    return stored;
  }
  async get(id: string): Promise<EventRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM events WHERE id = ?").get(id);
    return r && eventRow(r);
  }
  async listForLockHolder(lockHolderId: string, page: EventPageRequest): Promise<Page<EventRecord>> {
    const values: unknown[] = [lockHolderId, page.sinceS, ...page.types];
    const param = (v: unknown) => {
      values.push(v);
      return "?";
    };
    const where = [
      "lock_holder_id = ?",
      "ts_s >= ?",
      `type IN (${page.types.map(() => "?").join(", ")})`,
      ...eventConditions(page, param),
    ];
    if (page.startAfterId !== undefined) {
      const after: Row = prep(this.db, "SELECT ts_s, n FROM events WHERE id = ? AND lock_holder_id = ?").get(
        page.startAfterId,
        lockHolderId,
      );
      if (!after) throw new UnknownCursorError(page.startAfterId);
      where.push(`(ts_s < ${param(after.ts_s)} OR (ts_s = ${param(after.ts_s)} AND n < ${param(after.n)}))`);
    }
    const rows = prep(
      this.db,
      `SELECT * FROM events WHERE ${where.join(" AND ")} ORDER BY ts_s DESC, n DESC LIMIT ${param(page.limit + 1)}`,
    ).all(...values);
    return toPage(rows, page.limit, eventRow, (e) => e.id);
  }
}

export class SqliteTelemetry implements TelemetryRepo {
  constructor(private readonly db: Database.Database) {}
  async insertIfNew(t: TelemetryRecord): Promise<boolean> {
    const r = prep(
      this.db,
      `INSERT INTO telemetry (id, lock_id, ts_s, level, mv, state, v, dropped, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ).run(t.id, t.lockId, t.tsS, t.level, t.mv, t.state, t.v, t.dropped, t.receivedAt);
    return r.changes === 1;
  }
  async insertManyIfNew(telemetry: readonly TelemetryRecord[]): Promise<Set<string>> {
    const stored = new Set<string>();
    for (const t of telemetry) if (await this.insertIfNew(t)) stored.add(t.id);
    return stored;
  }
}

export class SqliteWebhooks implements WebhookRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(w: WebhookRecord): Promise<void> {
    prep(
      this.db,
      "INSERT INTO webhooks (id, lock_holder_id, url, secret_sealed, created_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(w.id, w.lockHolderId, w.url, w.secretSealed, w.createdAt, w.deletedAt);
  }
  async get(id: string): Promise<WebhookRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM webhooks WHERE id = ?").get(id);
    return r && webhookRow(r);
  }
  async list(lockHolderId: string, page: PageRequest): Promise<Page<WebhookRecord>> {
    const rows = prep(
      this.db,
      "SELECT * FROM webhooks WHERE lock_holder_id = ? AND deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?",
    ).all(lockHolderId, page.startAfterId ?? "", page.limit + 1);
    return toPage(rows, page.limit, webhookRow, (w) => w.id);
  }
  async liveForLockHolder(lockHolderId: string): Promise<WebhookRecord[]> {
    return prep(this.db, "SELECT * FROM webhooks WHERE lock_holder_id = ? AND deleted_at IS NULL ORDER BY id")
      .all(lockHolderId)
      .map(webhookRow);
  }
  async markDeleted(id: string, at: number): Promise<void> {
    prep(this.db, "UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL").run(at, id);
  }
}

export class SqliteDeliveries implements DeliveryRepo {
  constructor(private readonly db: Database.Database) {}
  async insertMany(deliveries: readonly DeliveryRecord[]): Promise<void> {
    for (const d of deliveries) await this.insert(d);
  }
  async insert(d: DeliveryRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO webhook_deliveries (id, webhook_id, event_type, payload, status, attempts, next_attempt_at,
           last_error, created_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      d.id,
      d.webhookId,
      d.eventType,
      d.payload,
      d.status,
      d.attempts,
      d.nextAttemptAt,
      d.lastError,
      d.createdAt,
      d.deliveredAt,
    );
  }
  async claimDue(now: number, limit: number, leaseMs: number): Promise<DeliveryRecord[]> {
    return prep(
      this.db,
      `UPDATE webhook_deliveries SET claimed_until = ? WHERE id IN (
           SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
             AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY next_attempt_at, id LIMIT ?)
         RETURNING *`,
    )
      .all(now + leaseMs, now, now, limit)
      .map(deliveryRow)
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : 1));
  }
  async markDelivered(id: string, at: number): Promise<void> {
    prep(
      this.db,
      `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, claimed_until = NULL,
         last_error = NULL WHERE id = ? AND status = 'pending'`,
    ).run(at, id);
  }
  async scheduleRetry(id: string, attempts: number, nextAttemptAt: number, error: string): Promise<void> {
    prep(
      this.db,
      `UPDATE webhook_deliveries SET attempts = ?, next_attempt_at = ?, last_error = ?, claimed_until = NULL
         WHERE id = ? AND status = 'pending'`,
    ).run(attempts, nextAttemptAt, error, id);
  }
  async markFailed(id: string, attempts: number, error: string): Promise<void> {
    prep(
      this.db,
      `UPDATE webhook_deliveries SET status = 'failed', attempts = ?, last_error = ?, claimed_until = NULL
         WHERE id = ? AND status = 'pending'`,
    ).run(attempts, error, id);
  }
  async nextDueAt(): Promise<number | undefined> {
    const r: Row = prep(
      this.db,
      "SELECT MIN(MAX(next_attempt_at, COALESCE(claimed_until, 0))) AS t FROM webhook_deliveries WHERE status = 'pending'",
    ).get();
    return r.t ?? undefined;
  }
  async listForWebhook(webhookId: string): Promise<DeliveryRecord[]> {
    return prep(this.db, "SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT 100")
      .all(webhookId)
      .map(deliveryRow);
  }
}

export class SqliteJobs implements JobRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(j: JobRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO jobs (id, integrator_id, lock_holder_id, kind, status, total, done, key_ids, results, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      j.id,
      j.integratorId,
      j.lockHolderId,
      j.kind,
      j.status,
      j.total,
      j.done,
      JSON.stringify(j.keyIds),
      JSON.stringify(j.results),
      j.createdAt,
      j.updatedAt,
    );
  }
  async get(id: string): Promise<JobRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM jobs WHERE id = ?").get(id);
    return r && jobRow(r);
  }
  async claimNext(now: number, leaseMs: number): Promise<JobRecord | undefined> {
    const r: Row = prep(
      this.db,
      `UPDATE jobs SET status = 'running', claimed_until = ?, updated_at = ? WHERE id = (
           SELECT id FROM jobs WHERE status = 'pending' OR (status = 'running' AND (claimed_until IS NULL OR claimed_until <= ?))
           ORDER BY id LIMIT 1)
         RETURNING *`,
    ).get(now + leaseMs, now, now);
    return r && jobRow(r);
  }
  async progress(
    id: string,
    fromDone: number,
    done: number,
    results: JobResult[],
    at: number,
    leaseUntil: number,
  ): Promise<boolean> {
    const r = prep(
      this.db,
      `UPDATE jobs SET done = ?, results = ?, updated_at = ?, claimed_until = ?
         WHERE id = ? AND status = 'running' AND done = ?`,
    ).run(done, JSON.stringify(results), at, leaseUntil, id, fromDone);
    return r.changes === 1;
  }
  async finish(id: string, status: JobStatus, at: number): Promise<void> {
    prep(
      this.db,
      "UPDATE jobs SET status = ?, updated_at = ?, claimed_until = NULL WHERE id = ? AND status = 'running'",
    ).run(status, at, id);
  }
}
