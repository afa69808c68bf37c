import { UnknownCursorError } from "../errors.js";
import { eventConditions } from "../filters.js";
import type {
  DeliveryRecord,
  EventRecord,
  JobRecord,
  JobStatus,
  Page,
  PageRequest,
  TelemetryRecord,
  WebhookRecord,
} from "../records.js";
import { deliveryRow, eventRow, jobRow, jsonText, type Row, toPage, webhookRow } from "../rows.js";
import { type Column, NOT_PAUSED, type Sql } from "../sql.js";
import type { DeliveryRepo, EventPageRequest, EventRepo, JobRepo, TelemetryRepo, WebhookRepo } from "../store.js";

const EVENT_COLUMNS: readonly Column[] = [
  ["id", "text"],
  ["lock_holder_id", "text"],
  ["lock_id", "text"],
  ["seq", "bigint"],
  ["ts_s", "bigint"],
  ["type", "text"],
  ["cti", "text"],
  ["key_id", "text"],
  ["user_id", "text"],
  ["code", "text"],
  ["dropped", "bigint"],
  ["v", "bigint"],
  ["received_at", "bigint"],
];

export class Events implements EventRepo {
  constructor(private readonly sql: Sql) {}
  async insertIfNew(e: EventRecord): Promise<boolean> {
    return (await this.insertManyIfNew([e])).has(e.id);
  }
  async insertManyIfNew(events: readonly EventRecord[]): Promise<Set<string>> {
    return this.sql.insertNew(
      "events",
      EVENT_COLUMNS,
      events.map((e) => [
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
      ]),
      "id",
    );
  }
  async get(id: string): Promise<EventRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM events WHERE id = ?", [id]);
    return r && eventRow(r);
  }
  async listForLockHolder(lockHolderId: string, page: EventPageRequest): Promise<Page<EventRecord>> {
    const { dialect } = this.sql;
    const values: unknown[] = [];
    const param = (v: unknown) => {
      values.push(v);
      return "?";
    };
    const where = [
      `lock_holder_id = ${param(lockHolderId)}`,
      `ts_s >= ${param(page.sinceS)}`,
      // One type (an `action` filter) as an equality, so the planner can read events_type_ts in page order.
      page.types.length === 1
        ? `type = ${param(page.types[0])}`
        : dialect.anyOf("type", param(dialect.list(page.types))),
      ...eventConditions(page, param),
    ];
    if (page.startAfterId !== undefined) {
      const after = await this.sql.get("SELECT ts_s, n FROM events WHERE id = ? AND lock_holder_id = ?", [
        page.startAfterId,
        lockHolderId,
      ]);
      if (!after) throw new UnknownCursorError(page.startAfterId);
      // A row comparison, which both databases use as the index range; as `ts_s < ? OR (ts_s = ? AND n < ?)` it was a
      // filter and a page read every event newer than the cursor (500k events, cursor at the middle: 520 ms against
      // 0.9 ms; issue 17, scripts/README.md "fifth pass").
      where.push(`(ts_s, n) < (${param(after.ts_s)}, ${param(after.n)})`);
    }
    // Planned with its values each time: which index reads a page best depends on how many events they match.
    const rows = await this.sql.allPlannedPerCall(
      `SELECT * FROM events WHERE ${where.join(" AND ")} ORDER BY ts_s DESC, n DESC LIMIT ${param(page.limit + 1)}`,
      values,
    );
    return toPage(rows, page.limit, eventRow, (e) => e.id);
  }
}

const TELEMETRY_COLUMNS: readonly Column[] = [
  ["id", "text"],
  ["lock_id", "text"],
  ["ts_s", "bigint"],
  ["level", "bigint"],
  ["mv", "bigint"],
  ["state", "text"],
  ["v", "bigint"],
  ["dropped", "bigint"],
  ["received_at", "bigint"],
];

export class Telemetry implements TelemetryRepo {
  constructor(private readonly sql: Sql) {}
  async insertIfNew(t: TelemetryRecord): Promise<boolean> {
    return (await this.insertManyIfNew([t])).has(t.id);
  }
  async insertManyIfNew(telemetry: readonly TelemetryRecord[]): Promise<Set<string>> {
    return this.sql.insertNew(
      "telemetry",
      TELEMETRY_COLUMNS,
      telemetry.map((t) => [t.id, t.lockId, t.tsS, t.level, t.mv, t.state, t.v, t.dropped, t.receivedAt]),
      "id",
    );
  }
}

export class Webhooks implements WebhookRepo {
  constructor(private readonly sql: Sql) {}
  async insert(w: WebhookRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO webhooks (id, lock_holder_id, url, secret_sealed, created_at, deleted_at, event_types, paused_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [w.id, w.lockHolderId, w.url, w.secretSealed, w.createdAt, w.deletedAt, jsonText(w.eventTypes), w.pausedAt],
    );
  }
  async get(id: string): Promise<WebhookRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM webhooks WHERE id = ?", [id]);
    return r && webhookRow(r);
  }
  async list(lockHolderId: string, page: PageRequest): Promise<Page<WebhookRecord>> {
    const rows = await this.sql.all(
      "SELECT * FROM webhooks WHERE lock_holder_id = ? AND deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?",
      [lockHolderId, page.startAfterId ?? "", page.limit + 1],
    );
    return toPage(rows, page.limit, webhookRow, (w) => w.id);
  }
  async liveForLockHolder(lockHolderId: string): Promise<WebhookRecord[]> {
    const rows = await this.sql.all(
      "SELECT * FROM webhooks WHERE lock_holder_id = ? AND deleted_at IS NULL ORDER BY id",
      [lockHolderId],
    );
    return rows.map(webhookRow);
  }
  async markDeleted(id: string, at: number): Promise<void> {
    // Unpaused, so its queue is claimed and closed as failed ("the webhook was deleted") instead of waiting for ever.
    await this.sql.run("UPDATE webhooks SET deleted_at = ?, paused_at = NULL WHERE id = ? AND deleted_at IS NULL", [
      at,
      id,
    ]);
  }
  async update(id: string, fields: Pick<WebhookRecord, "eventTypes" | "pausedAt">): Promise<void> {
    await this.sql.run("UPDATE webhooks SET event_types = ?, paused_at = ? WHERE id = ? AND deleted_at IS NULL", [
      jsonText(fields.eventTypes),
      fields.pausedAt,
      id,
    ]);
  }
}

const DELIVERY_COLUMNS: readonly Column[] = [
  ["id", "text"],
  ["webhook_id", "text"],
  ["event_type", "text"],
  ["payload", "text"],
  ["status", "text"],
  ["attempts", "bigint"],
  ["next_attempt_at", "bigint"],
  ["last_error", "text"],
  ["created_at", "bigint"],
  ["delivered_at", "bigint"],
];

export class Deliveries implements DeliveryRepo {
  constructor(private readonly sql: Sql) {}
  async insert(d: DeliveryRecord): Promise<void> {
    await this.insertMany([d]);
  }
  async insertMany(deliveries: readonly DeliveryRecord[]): Promise<void> {
    await this.sql.insertRows(
      "webhook_deliveries",
      DELIVERY_COLUMNS,
      deliveries.map((d) => [
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
      ]),
    );
  }
  async claimDue(now: number, limit: number, leaseMs: number): Promise<DeliveryRecord[]> {
    const rows = await this.sql.claimDeliveries(now, limit, leaseMs);
    return rows.map(deliveryRow).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : 1));
  }
  async markDelivered(id: string, at: number): Promise<void> {
    await this.sql.run(
      `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, claimed_until = NULL,
           last_error = NULL WHERE id = ? AND status = 'pending'`,
      [at, id],
    );
  }
  async scheduleRetry(id: string, attempts: number, nextAttemptAt: number, error: string): Promise<void> {
    await this.sql.run(
      `UPDATE webhook_deliveries SET attempts = ?, next_attempt_at = ?, last_error = ?, claimed_until = NULL
         WHERE id = ? AND status = 'pending'`,
      [attempts, nextAttemptAt, error, id],
    );
  }
  async markFailed(id: string, attempts: number, error: string): Promise<void> {
    await this.sql.run(
      `UPDATE webhook_deliveries SET status = 'failed', attempts = ?, last_error = ?, claimed_until = NULL
         WHERE id = ? AND status = 'pending'`,
      [attempts, error, id],
    );
  }
  async nextDueAt(): Promise<number | undefined> {
    const r = await this.sql.get(
      `SELECT MIN(${this.sql.dialect.greatest}(next_attempt_at, COALESCE(claimed_until, 0))) AS t
         FROM webhook_deliveries WHERE status = 'pending' AND ${NOT_PAUSED}`,
    );
    return r.t ?? undefined;
  }
  async release(id: string): Promise<void> {
    await this.sql.run("UPDATE webhook_deliveries SET claimed_until = NULL WHERE id = ? AND status = 'pending'", [id]);
  }
  async get(id: string): Promise<DeliveryRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM webhook_deliveries WHERE id = ?", [id]);
    return r && deliveryRow(r);
  }
  async replay(ids: readonly string[], at: number): Promise<number> {
    let replayed = 0;
    for (const id of ids) {
      replayed += await this.sql.run(
        `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, claimed_until = NULL,
             delivered_at = NULL WHERE id = ? AND status <> 'pending'`,
        [at, id],
      );
    }
    return replayed;
  }
  async failedSince(webhookId: string, since: number, limit: number): Promise<string[]> {
    const rows = await this.sql.all(
      `SELECT id FROM webhook_deliveries WHERE webhook_id = ? AND status = 'failed' AND created_at >= ?
         ORDER BY id LIMIT ?`,
      [webhookId, since, limit],
    );
    return rows.map((r: Row) => r.id as string);
  }
  async listForWebhook(webhookId: string): Promise<DeliveryRecord[]> {
    const rows = await this.sql.all(
      "SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT 100",
      [webhookId],
    );
    return rows.map(deliveryRow);
  }
}

export class Jobs implements JobRepo {
  constructor(private readonly sql: Sql) {}
  async insert(j: JobRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO jobs (id, integrator_id, lock_holder_id, kind, status, total, done, key_ids, results, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
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
      ],
    );
  }
  async get(id: string): Promise<JobRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM jobs WHERE id = ?", [id]);
    return r && jobRow(r);
  }
  async claimNext(now: number, leaseMs: number): Promise<JobRecord | undefined> {
    const r = await this.sql.claimJob(now, leaseMs);
    return r && jobRow(r);
  }
  async progress(...[id, fromDone, done, results, at, leaseUntil]: Parameters<JobRepo["progress"]>): Promise<boolean> {
    const written = await this.sql.run(
      `UPDATE jobs SET done = ?, results = ?, updated_at = ?, claimed_until = ?
         WHERE id = ? AND status = 'running' AND done = ?`,
      [done, JSON.stringify(results), at, leaseUntil, id, fromDone],
    );
    return written === 1;
  }
  async release(id: string, fromDone: number, at: number): Promise<boolean> {
    const written = await this.sql.run(
      "UPDATE jobs SET claimed_until = NULL, updated_at = ? WHERE id = ? AND status = 'running' AND done = ?",
      [at, id, fromDone],
    );
    return written === 1;
  }
  async finish(id: string, status: JobStatus, at: number): Promise<boolean> {
    const written = await this.sql.run(
      "UPDATE jobs SET status = ?, updated_at = ?, claimed_until = NULL WHERE id = ? AND status = 'running'",
      [status, at, id],
    );
    return written === 1;
  }
}
