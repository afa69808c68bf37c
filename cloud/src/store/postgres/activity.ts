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
import type { Sql } from "./sql.js";

/** The given records as one array per field, for `unnest` (one statement however many rows). */
function columns<T, K extends keyof T>(rows: readonly T[], fields: readonly K[]): unknown[][] {
  return fields.map((f) => rows.map((r) => r[f]));
}

const EVENT_FIELDS = [
  "id",
  "lockHolderId",
  "lockId",
  "seq",
  "tsS",
  "type",
  "cti",
  "keyId",
  "userId",
  "code",
  "dropped",
  "v",
  "receivedAt",
] as const;

export class PgEvents implements EventRepo {
  constructor(private readonly sql: Sql) {}
  async insertIfNew(e: EventRecord): Promise<boolean> {
    return (await this.insertManyIfNew([e])).has(e.id);
  }
  async insertManyIfNew(events: readonly EventRecord[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    // WITH ORDINALITY … ORDER BY keeps the given order, so of two items with one id the first is the one stored.
    const rows = await this.sql.all(
      `INSERT INTO events (id, lock_holder_id, lock_id, seq, ts_s, type, cti, key_id, user_id, code, dropped, v, received_at)
         SELECT id, lh, lock, seq, ts, type, cti, key, usr, code, dropped, v, received
           FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[],
             $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[]) WITH ORDINALITY
             AS e(id, lh, lock, seq, ts, type, cti, key, usr, code, dropped, v, received, i)
           ORDER BY i
         ON CONFLICT (id) DO NOTHING RETURNING id`,
      columns(events, EVENT_FIELDS),
    );
    return new Set(rows.map((r: Row) => r.id as string));
  }
  async get(id: string): Promise<EventRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM events WHERE id = $1", [id]);
    return r && eventRow(r);
  }
  async listForLockHolder(lockHolderId: string, page: EventPageRequest): Promise<Page<EventRecord>> {
    const values: unknown[] = [];
    const param = (v: unknown) => {
      values.push(v);
      return `$${values.length}`;
    };
    const where = [
      `lock_holder_id = ${param(lockHolderId)}`,
      `ts_s >= ${param(page.sinceS)}`,
      // One type (an `action` filter) as an equality, so the planner can read events_type_ts in page order.
      page.types.length === 1 ? `type = ${param(page.types[0])}` : `type = ANY(${param(page.types)}::text[])`,
      ...eventConditions(page, param),
    ];
    if (page.startAfterId !== undefined) {
      const after = await this.sql.one("SELECT ts_s, n FROM events WHERE id = $1 AND lock_holder_id = $2", [
        page.startAfterId,
        lockHolderId,
      ]);
      if (!after) throw new UnknownCursorError(page.startAfterId);
      const ts = param(after.ts_s);
      where.push(`(ts_s < ${ts} OR (ts_s = ${ts} AND n < ${param(after.n)}))`);
    }
    const rows = await this.sql.all(
      `SELECT * FROM events WHERE ${where.join(" AND ")} ORDER BY ts_s DESC, n DESC LIMIT ${param(page.limit + 1)}`,
      values,
    );
    return toPage(rows, page.limit, eventRow, (e) => e.id);
  }
}

const TELEMETRY_FIELDS = ["id", "lockId", "tsS", "level", "mv", "state", "v", "dropped", "receivedAt"] as const;

export class PgTelemetry implements TelemetryRepo {
  constructor(private readonly sql: Sql) {}
  async insertIfNew(t: TelemetryRecord): Promise<boolean> {
    return (await this.insertManyIfNew([t])).has(t.id);
  }
  async insertManyIfNew(telemetry: readonly TelemetryRecord[]): Promise<Set<string>> {
    if (telemetry.length === 0) return new Set();
    const rows = await this.sql.all(
      `INSERT INTO telemetry (id, lock_id, ts_s, level, mv, state, v, dropped, received_at)
         SELECT id, lock, ts, level, mv, state, v, dropped, received
           FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[],
             $8::bigint[], $9::bigint[]) WITH ORDINALITY AS t(id, lock, ts, level, mv, state, v, dropped, received, i)
           ORDER BY i
         ON CONFLICT (id) DO NOTHING RETURNING id`,
      columns(telemetry, TELEMETRY_FIELDS),
    );
    return new Set(rows.map((r: Row) => r.id as string));
  }
}

export class PgWebhooks implements WebhookRepo {
  constructor(private readonly sql: Sql) {}
  async insert(w: WebhookRecord): Promise<void> {
    await this.sql.run(
      "INSERT INTO webhooks (id, lock_holder_id, url, secret_sealed, created_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6)",
      [w.id, w.lockHolderId, w.url, w.secretSealed, w.createdAt, w.deletedAt],
    );
  }
  async get(id: string): Promise<WebhookRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM webhooks WHERE id = $1", [id]);
    return r && webhookRow(r);
  }
  async list(lockHolderId: string, page: PageRequest): Promise<Page<WebhookRecord>> {
    const rows = await this.sql.all(
      "SELECT * FROM webhooks WHERE lock_holder_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3",
      [lockHolderId, page.startAfterId ?? "", page.limit + 1],
    );
    return toPage(rows, page.limit, webhookRow, (w) => w.id);
  }
  async liveForLockHolder(lockHolderId: string): Promise<WebhookRecord[]> {
    const rows = await this.sql.all(
      "SELECT * FROM webhooks WHERE lock_holder_id = $1 AND deleted_at IS NULL ORDER BY id",
      [lockHolderId],
    );
    return rows.map(webhookRow);
  }
  async markDeleted(id: string, at: number): Promise<void> {
    await this.sql.run("UPDATE webhooks SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL", [at, id]);
  }
}

const DELIVERY_FIELDS = [
  "id",
  "webhookId",
  "eventType",
  "payload",
  "status",
  "attempts",
  "nextAttemptAt",
  "lastError",
  "createdAt",
  "deliveredAt",
] as const;

export class PgDeliveries implements DeliveryRepo {
  constructor(private readonly sql: Sql) {}
  async insert(d: DeliveryRecord): Promise<void> {
    await this.insertMany([d]);
  }
  async insertMany(deliveries: readonly DeliveryRecord[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.sql.run(
      `INSERT INTO webhook_deliveries (id, webhook_id, event_type, payload, status, attempts, next_attempt_at,
           last_error, created_at, delivered_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
           $8::text[], $9::bigint[], $10::bigint[])`,
      columns(deliveries, DELIVERY_FIELDS),
    );
  }
  /**
   * FOR UPDATE SKIP LOCKED: a worker in another process claiming at the same moment passes over the rows this one is
   * taking instead of waiting for them, and the lease (claimed_until) keeps them out of reach after commit.
   */
  async claimDue(now: number, limit: number, leaseMs: number): Promise<DeliveryRecord[]> {
    const rows = await this.sql.all(
      `UPDATE webhook_deliveries d SET claimed_until = $1
         FROM (SELECT id FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until <= $2)
                 ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) due
         WHERE d.id = due.id
         RETURNING d.*`,
      [now + leaseMs, now, limit],
    );
    return rows.map(deliveryRow).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : 1));
  }
  async markDelivered(id: string, at: number): Promise<void> {
    await this.sql.run(
      `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = $1, claimed_until = NULL,
           last_error = NULL WHERE id = $2 AND status = 'pending'`,
      [at, id],
    );
  }
  async scheduleRetry(id: string, attempts: number, nextAttemptAt: number, error: string): Promise<void> {
    await this.sql.run(
      `UPDATE webhook_deliveries SET attempts = $1, next_attempt_at = $2, last_error = $3, claimed_until = NULL
         WHERE id = $4 AND status = 'pending'`,
      [attempts, nextAttemptAt, error, id],
    );
  }
  async markFailed(id: string, attempts: number, error: string): Promise<void> {
    await this.sql.run(
      `UPDATE webhook_deliveries SET status = 'failed', attempts = $1, last_error = $2, claimed_until = NULL
         WHERE id = $3 AND status = 'pending'`,
      [attempts, error, id],
    );
  }
  async nextDueAt(): Promise<number | undefined> {
    const r = await this.sql.one(
      "SELECT MIN(GREATEST(next_attempt_at, COALESCE(claimed_until, 0))) AS t FROM webhook_deliveries WHERE status = 'pending'",
    );
    return r.t ?? undefined;
  }
  async listForWebhook(webhookId: string): Promise<DeliveryRecord[]> {
    const rows = await this.sql.all(
      "SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT 100",
      [webhookId],
    );
    return rows.map(deliveryRow);
  }
}

export class PgJobs implements JobRepo {
  constructor(private readonly sql: Sql) {}
  async insert(j: JobRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO jobs (id, integrator_id, lock_holder_id, kind, status, total, done, key_ids, results, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
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
    const r = await this.sql.one("SELECT * FROM jobs WHERE id = $1", [id]);
    return r && jobRow(r);
  }
  /** FOR UPDATE SKIP LOCKED, as claimDue: two processes claiming at once take two different jobs. */
  async claimNext(now: number, leaseMs: number): Promise<JobRecord | undefined> {
    const r = await this.sql.one(
      `UPDATE jobs j SET status = 'running', claimed_until = $1, updated_at = $2
         FROM (SELECT id FROM jobs
                 WHERE status = 'pending' OR (status = 'running' AND (claimed_until IS NULL OR claimed_until <= $2))
                 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) next
         WHERE j.id = next.id
         RETURNING j.*`,
      [now + leaseMs, now],
    );
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
    const written = await this.sql.run(
      `UPDATE jobs SET done = $1, results = $2, updated_at = $3, claimed_until = $4
         WHERE id = $5 AND status = 'running' AND done = $6`,
      [done, JSON.stringify(results), at, leaseUntil, id, fromDone],
    );
    return written === 1;
  }
  async finish(id: string, status: JobStatus, at: number): Promise<void> {
    await this.sql.run(
      "UPDATE jobs SET status = $1, updated_at = $2, claimed_until = NULL WHERE id = $3 AND status = 'running'",
      [status, at, id],
    );
  }
}
