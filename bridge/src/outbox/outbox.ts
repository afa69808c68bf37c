import type { Clock } from "@latchkey/protocol";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import { type Db, withoutSync } from "../store/database.js";
import type { WriteBatcher } from "../store/write-batcher.js";

/** How many rows `take` reads per item it may answer when it takes only one lane's items. */
const TAKE_SCAN = 4;

/**
 * FNV-1a (32 bits) of a lock id: its items' upload lane is this modulo the lanes (`laneOf`), kept in `lane_key`. Never
 * change it without a migration that recomputes `lane_key`: a row whose key disagrees would be in no lane.
 */
export function lockHash(lockId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < lockId.length; i++) hash = Math.imul(hash ^ lockId.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** The lane of a lock's items: always the same one, so its items go up in order. */
export const laneOf = (lockId: string, lanes: number): number => lockHash(lockId) % lanes;

/** One upload lane of `of`: the items of the locks whose `laneOf(lockId, of)` is `index`. */
export interface Lane {
  index: number;
  of: number;
}

export type OutboxKind = "event" | "telemetry" | "presence";

/**
 * A lock's sealed report (kind `event` or `telemetry`, as its courier's unauthenticated peek read it), kept as the raw
 * bytes the lock sent: the bridge can neither make nor alter one (docs/reports.md), so it never re-encodes one either.
 * Presence is the bridge's own word (JSON for `/bridge/v1/ingest`).
 */
export type OutboxEntry =
  | {
      kind: "event" | "telemetry";
      lockId: string;
      report: Uint8Array;
      /** An event report's type as the peek at receipt read it (unauthenticated): spares the uploader a second peek. */
      eventType?: string;
    }
  | { kind: "presence"; lockId: string; body: string };

export type StoredItem = {
  id: number;
  lockId: string;
  /** Stored size: the report's bytes, or the presence JSON's. */
  bytes: number;
} & (
  | {
      kind: "event" | "telemetry";
      report: Uint8Array;
      body: null;
      /** The entry's `eventType`; null for telemetry and for an event stored without it (an older bridge's row). */
      eventType: string | null;
    }
  | { kind: "presence"; report: null; body: string; eventType: null }
);

/** What one item adds to an upload body: base64url (4/3) and the item's JSON around it, lock id and keys included. */
export const uploadBytes = (item: Pick<StoredItem, "kind" | "bytes">): number =>
  item.kind === "presence" ? item.bytes + 1 : Math.ceil((item.bytes * 4) / 3) + 240;

export interface OutboxLimits {
  maxItems: number;
  maxBytes: number;
  maxAgeHours: number;
  fullPolicy: "refuse" | "drop-oldest";
}

export interface OutboxStatus {
  items: number;
  bytes: number;
  maxItems: number;
  maxBytes: number;
  /** Unix ms the oldest item was stored; null when the outbox is empty. */
  oldestAt: number | null;
  full: boolean;
  fullPolicy: "refuse" | "drop-oldest";
}

export class OutboxFullError extends Error {
  readonly code = "outbox_full";
  constructor(limits: OutboxLimits) {
    super(`outbox full (${limits.maxItems} items / ${limits.maxBytes} bytes): message refused, the lock keeps it`);
    this.name = "OutboxFullError";
  }
}

/**
 * Store-and-forward buffer of everything bound for the cloud. `add` resolves only when the item is committed (group
 * commit), and that is when the lock's PUBACK may go out. Items leave only through `remove` after the cloud answered
 * them, or through the documented limits: age (`maxAgeHours`) and, with `fullPolicy: drop-oldest`, size. With
 * `refuse` (the default) a full outbox refuses new items instead, so nothing already stored is ever lost.
 */
export class Outbox {
  private items = 0;
  private bytes = 0;
  private reservedItems = 0;
  private reservedBytes = 0;
  private readonly insert;
  private readonly oldest;
  private readonly oldestAt;
  private readonly deleteIds;
  private readonly take_;
  private readonly takeLane;
  private readonly listeners = new Set<(lockId: string) => void>();
  private readonly added: Record<OutboxKind, { inc(): void }>;

  constructor(
    private readonly db: Db,
    private readonly batcher: WriteBatcher,
    private readonly limits: OutboxLimits,
    private readonly clock: Clock,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
  ) {
    const totals = db.prepare("SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM outbox").get() as {
      n: number;
      b: number;
    };
    this.items = totals.n;
    this.bytes = totals.b;
    // `ready` is read inside the insert, so an assignment committed just before is never missed.
    this.insert = db.prepare(
      `INSERT INTO outbox (kind, lock_id, body, report, bytes, created_at, event_type, lane_key, ready)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, COALESCE((SELECT assigned FROM locks WHERE lock_id = ?), 0))`,
    );
    this.oldest = db.prepare("SELECT id, bytes FROM outbox ORDER BY id LIMIT ?");
    this.oldestAt = db.prepare("SELECT created_at AS t FROM outbox ORDER BY id LIMIT 1");
    this.deleteIds = db.prepare("DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))");
    // Only items of locks the cloud has assigned to this bridge: anything else would make the cloud refuse the batch.
    this.take_ = db.prepare(
      "SELECT id, kind, lock_id AS lockId, body, report, bytes, event_type AS eventType FROM outbox WHERE id > ? AND ready = 1 ORDER BY id LIMIT ?",
    );
    // One lane's: of the next rows in order, those of its locks, so no other lane's report is copied out of SQLite. A row
    // stored before `lane_key` was kept is passed on, and `take` works out its lane from the lock id.
    this.takeLane = db.prepare(
      `SELECT id, kind, lockId, body, report, bytes, eventType FROM (
         SELECT id, kind, lock_id AS lockId, body, report, bytes, event_type AS eventType, lane_key
         FROM outbox WHERE id > ? AND ready = 1 ORDER BY id LIMIT ?
       ) WHERE lane_key IS NULL OR lane_key % ? = ? ORDER BY id`,
    );
    this.added = {
      event: metrics.outboxAdded.labels("event"),
      telemetry: metrics.outboxAdded.labels("telemetry"),
      presence: metrics.outboxAdded.labels("presence"),
    };
    metrics.gauge("outbox_items", "Items waiting in the outbox", () => this.items);
    metrics.gauge("outbox_bytes", "Bytes waiting in the outbox", () => this.bytes);
    metrics.gauge("outbox_max_items", "Outbox item limit", () => limits.maxItems);
    metrics.gauge("outbox_max_bytes", "Outbox byte limit", () => limits.maxBytes);
    metrics.gauge("outbox_full", "1 while the outbox is at its limit", () => (this.isFull(0) ? 1 : 0));
    metrics.gauge("outbox_oldest_age_seconds", "Age of the oldest item in the outbox", () => this.oldestAgeSeconds());
  }

  get size(): { items: number; bytes: number } {
    return { items: this.items, bytes: this.bytes };
  }

  /** Items waiting: `size.items` without an object, for the backpressure check on every report. */
  get count(): number {
    return this.items;
  }

  /** Size, limits and the oldest item's time (unix ms, null when empty): `/healthz` and the status page. */
  status(): OutboxStatus {
    const oldest = this.oldestAt.get() as { t: number | null } | undefined;
    return {
      items: this.items,
      bytes: this.bytes,
      maxItems: this.limits.maxItems,
      maxBytes: this.limits.maxBytes,
      oldestAt: oldest?.t ?? null,
      full: this.isFull(0),
      fullPolicy: this.limits.fullPolicy,
    };
  }

  /** Called after an item was committed, with its lock (the uploader listens). */
  onAdded(listener: (lockId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private isFull(extraBytes: number): boolean {
    return (
      this.items + this.reservedItems + 1 > this.limits.maxItems ||
      this.bytes + this.reservedBytes + extraBytes > this.limits.maxBytes
    );
  }

  /**
   * Stores an item durably. When full under the `refuse` policy it rejects with OutboxFullError, or with
   * `ifFull: "skip"` (for items that may be lost, like presence) resolves without storing, counted as dropped.
   */
  async add(entry: OutboxEntry, options?: { ifFull?: "refuse" | "skip" }): Promise<void> {
    const size = entry.kind === "presence" ? Buffer.byteLength(entry.body) : entry.report.length;
    const body = entry.kind === "presence" ? entry.body : null;
    const report = entry.kind === "presence" ? null : entry.report;
    const eventType = entry.kind === "event" ? (entry.eventType ?? null) : null;
    const laneKey = lockHash(entry.lockId);
    const dropOldest = this.limits.fullPolicy === "drop-oldest";
    if (this.isFull(size) && !dropOldest) {
      if (options?.ifFull === "skip") {
        this.metrics.outboxDropped.inc({ reason: "full" });
        return;
      }
      this.metrics.outboxRefused.inc();
      throw new OutboxFullError(this.limits);
    }
    this.reservedItems++;
    this.reservedBytes += size;
    let stored = false;
    let dropped = null as { items: number; bytes: number } | null;
    try {
      await this.batcher.run(() => {
        // Run again when the group is retried write by write: only the last run's count is true.
        dropped = dropOldest ? this.makeRoom() : null;
        stored =
          this.insert.run(
            entry.kind,
            entry.lockId,
            body,
            report,
            size,
            this.clock.now(),
            eventType,
            laneKey,
            entry.lockId,
          ).changes > 0;
      });
    } catch (e) {
      // Not stored, so not acknowledged: the lock (or the external broker) keeps the message and sends it again.
      this.metrics.outboxStoreErrors.inc();
      this.logger.warn(
        { lockId: entry.lockId, err: (e as Error).message },
        "could not store a lock message; refused, the sender keeps it",
      );
      throw e;
    } finally {
      this.reservedItems--;
      this.reservedBytes -= size;
    }
    if (dropped !== null && dropped.items > 0) {
      this.items -= dropped.items;
      this.bytes -= dropped.bytes;
      this.metrics.outboxDropped.inc({ reason: "full" }, dropped.items);
      this.logger.warn({ dropped: dropped.items }, "outbox full: dropped the oldest items (fullPolicy drop-oldest)");
    }
    if (stored) {
      this.items++;
      this.bytes += size;
      this.added[entry.kind].inc();
      for (const listener of this.listeners) listener(entry.lockId);
    }
  }

  /** Inside a write: deletes the oldest items until one more of `size` bytes fits. */
  private makeRoom(): { items: number; bytes: number } {
    // Reservations include the item being added, and any others of this group commit.
    let items = this.items + this.reservedItems;
    let bytes = this.bytes + this.reservedBytes;
    const victims: number[] = [];
    let freedBytes = 0;
    if (items > this.limits.maxItems || bytes > this.limits.maxBytes) {
      for (const row of this.oldest.iterate(Number.MAX_SAFE_INTEGER) as Iterable<{ id: number; bytes: number }>) {
        if (items <= this.limits.maxItems && bytes <= this.limits.maxBytes) break;
        victims.push(row.id);
        items--;
        bytes -= row.bytes;
        freedBytes += row.bytes;
      }
    }
    if (victims.length > 0) this.deleteIds.run(JSON.stringify(victims));
    return { items: victims.length, bytes: freedBytes };
  }

  /**
   * The oldest uploadable items, at most `limit` of them and about `maxBytes` of upload body (`uploadBytes`), after id
   * `afterId`, of the locks of `lane` (all without it). Report bytes come back exactly as stored. With `lane`, at most
   * `limit * TAKE_SCAN` rows are looked at, and only its own locks' are read out: a lane whose locks sit behind a long
   * backlog of others' waits for it. A report is the Buffer SQLite answered (a Uint8Array of its own bytes), not
   * wrapped again: one object less per item while its batch is at the cloud.
   */
  take(limit: number, maxBytes: number, afterId = 0, lane?: Lane): StoredItem[] {
    const out: StoredItem[] = [];
    let bytes = 0;
    const rows = (
      lane ? this.takeLane.iterate(afterId, limit * TAKE_SCAN, lane.of, lane.index) : this.take_.iterate(afterId, limit)
    ) as Iterable<StoredItem>;
    for (const row of rows) {
      if (lane && laneOf(row.lockId, lane.of) !== lane.index) continue;
      if (out.length >= limit) break;
      const size = uploadBytes(row);
      if (out.length > 0 && bytes + size > maxBytes) break;
      out.push(row);
      bytes += size;
    }
    return out;
  }

  /** Deletes items the cloud acknowledged (or refused for good). */
  remove(items: readonly StoredItem[]): void {
    if (items.length === 0) return;
    // No fsync for a delete: if power fails before the next sync, the items come back and go up again, and the cloud
    // answers them as duplicates. Only what is acknowledged to a lock must be on disk.
    const removed = withoutSync(this.db, () => this.deleteIds.run(JSON.stringify(items.map((i) => i.id))).changes);
    if (removed === items.length) {
      this.items -= removed;
      this.bytes -= items.reduce((sum, i) => sum + i.bytes, 0);
    } else this.recount();
  }

  /** Drops items older than `maxAgeHours`; returns how many. */
  expire(): number {
    const cutoff = this.clock.now() - this.limits.maxAgeHours * 3_600_000;
    const expired = this.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE created_at < ?").get(cutoff) as {
      n: number;
    };
    if (expired.n === 0) return 0;
    this.db.prepare("DELETE FROM outbox WHERE created_at < ?").run(cutoff);
    this.recount();
    this.metrics.outboxDropped.inc({ reason: "age" }, expired.n);
    this.logger.warn(
      { dropped: expired.n, maxAgeHours: this.limits.maxAgeHours },
      "outbox: dropped items past their age limit",
    );
    return expired.n;
  }

  private recount(): void {
    const totals = this.db.prepare("SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM outbox").get() as {
      n: number;
      b: number;
    };
    this.items = totals.n;
    this.bytes = totals.b;
  }

  private oldestAgeSeconds(): number {
    const row = this.oldestAt.get() as { t: number | null } | undefined;
    return !row || row.t === null ? 0 : Math.max(0, (this.clock.now() - row.t) / 1000);
  }
}
