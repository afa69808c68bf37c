import { join } from "node:path";
import { ManualClock, peekReport } from "@latchkey/protocol";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BridgeMetrics } from "../src/ops/metrics.js";
import {
  laneOf,
  lockHash,
  Outbox,
  OutboxFullError,
  type OutboxLimits,
  type StoredItem,
  uploadBytes,
} from "../src/outbox/outbox.js";
import { type Db, openDatabase } from "../src/store/database.js";
import { BRIDGE_MIGRATIONS } from "../src/store/schema.js";
import { WriteBatcher } from "../src/store/write-batcher.js";
import { presenceBody, reportsBody } from "../src/uploader/batch.js";
import { movesAck } from "../src/uploader/uploader.js";
import { lockKeyMaterial, sealedEvent, tempDir } from "./helpers/fixtures.js";

const silent = pino({ level: "silent" });

describe("outbox", () => {
  let dir: ReturnType<typeof tempDir>;
  let db: Db;
  const clock = new ManualClock(1_800_000_000_000);
  const open = (limits: Partial<OutboxLimits> = {}) => {
    db = openDatabase(join(dir.path, "bridge.db"), { synchronous: "full", migrations: BRIDGE_MIGRATIONS });
    db.prepare("INSERT OR IGNORE INTO locks (lock_id, assigned) VALUES ('lock-a', 1), ('lock-b', 0)").run();
    const metrics = new BridgeMetrics();
    const outbox = new Outbox(
      db,
      new WriteBatcher(db),
      { maxItems: 1000, maxBytes: 1_000_000, maxAgeHours: 24, fullPolicy: "refuse", ...limits },
      clock,
      metrics,
      silent,
    );
    return { outbox, metrics };
  };
  const item = (n: number, lockId = "lock-a") => ({ kind: "event" as const, lockId, report: sealedEvent(lockId, n) });
  /** The seq of a stored event report, read back from its bytes. */
  const seq = (stored: StoredItem) => {
    const peeked = peekReport(stored.report!, stored.lockId);
    return peeked.kind === "event" ? peeked.event.seq : -1;
  };

  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => {
    if (db?.open) db.close();
    dir.remove();
  });

  it("stores report bytes durably, exactly as the lock sent them, and hands out only those of assigned locks", async () => {
    const { outbox } = open();
    await Promise.all([outbox.add(item(1)), outbox.add(item(2)), outbox.add(item(1, "lock-b"))]);
    expect(outbox.size.items).toBe(3);
    const batch = outbox.take(10, 100_000);
    expect(batch.map(seq)).toEqual([1, 2]);
    // The bytes exactly as stored (a Buffer out of SQLite: a Uint8Array of its own bytes, not wrapped again).
    expect(batch.map((b) => new Uint8Array(b.report!))).toEqual([sealedEvent("lock-a", 1), sealedEvent("lock-a", 2)]);
    // The upload carries the same bytes (base64url) and the lock's keys when the bridge holds them.
    const keys = lockKeyMaterial("lock-a");
    const body = JSON.parse(reportsBody(batch as Parameters<typeof reportsBody>[0], () => keys)) as {
      items: Array<{ lockId: string; report: string; keys: { identity: string; x25519: string } }>;
    };
    expect(body.items.map((i) => new Uint8Array(Buffer.from(i.report, "base64url")))).toEqual([
      sealedEvent("lock-a", 1),
      sealedEvent("lock-a", 2),
    ]);
    expect(body.items[0]!.keys).toEqual({
      identity: Buffer.from(keys.identity).toString("base64url"),
      x25519: Buffer.from(keys.x25519).toString("base64url"),
    });
    expect(JSON.parse(reportsBody(batch as Parameters<typeof reportsBody>[0], () => null)).items[0].keys).toBe(
      undefined,
    );
    db.close();
    const reopened = open();
    expect(reopened.outbox.size.items).toBe(3);
    reopened.outbox.remove(reopened.outbox.take(10, 100_000));
    expect(reopened.outbox.size.items).toBe(1);
    expect(reopened.outbox.take(10, 100_000)).toEqual([]);
  });

  it("sends a lock's current keys with its reports, encoded once per keys object", async () => {
    const { outbox } = open();
    await outbox.add(item(1));
    const batch = outbox.take(10, 100_000) as Parameters<typeof reportsBody>[0];
    const keysOf = (body: string) => (JSON.parse(body) as { items: Array<{ keys?: unknown }> }).items[0]!.keys;
    const first = lockKeyMaterial("lock-a");
    const encoded = (k: { identity: Uint8Array; x25519: Uint8Array }) => ({
      identity: Buffer.from(k.identity).toString("base64url"),
      x25519: Buffer.from(k.x25519).toString("base64url"),
    });
    expect(keysOf(reportsBody(batch, () => first))).toEqual(encoded(first));
    expect(keysOf(reportsBody(batch, () => first))).toEqual(encoded(first));
    // New keys (a factory reset: the registry's setKeys keeps a new object) go up at once, not the cached ones.
    const second = lockKeyMaterial("lock-b");
    expect(keysOf(reportsBody(batch, () => second))).toEqual(encoded(second));
    expect(keysOf(reportsBody(batch, () => null))).toBe(undefined);
    expect(JSON.parse(reportsBody([], () => first))).toEqual({ items: [] });
  });

  it("keeps presence as JSON for the ingest, beside reports", async () => {
    const { outbox } = open();
    await outbox.add(item(1));
    await outbox.add({ kind: "presence", lockId: "lock-a", body: '{"lockId":"lock-a","online":true,"ts":1}' });
    const [report, presence] = outbox.take(10, 100_000);
    expect(report).toMatchObject({ kind: "event", body: null });
    expect(presence).toMatchObject({ kind: "presence", report: null });
    expect(JSON.parse(presenceBody([presence as Parameters<typeof presenceBody>[0][number]]))).toEqual({
      presence: [{ lockId: "lock-a", online: true, ts: 1 }],
    });
  });

  it("takes one lane's locks, oldest first, reading at most four rows per item it may answer", async () => {
    const { outbox } = open();
    db.prepare("UPDATE locks SET assigned = 1 WHERE lock_id = 'lock-b'").run();
    for (let i = 1; i <= 4; i++) await outbox.add(item(i));
    for (let i = 1; i <= 2; i++) await outbox.add(item(i, "lock-b"));
    await outbox.add(item(5));
    expect([laneOf("lock-a", 2), laneOf("lock-b", 2)]).toEqual([0, 1]);
    const onlyB = { index: 1, of: 2 };
    expect(outbox.take(10, 1_000_000, 0, onlyB).map((i) => [i.lockId, seq(i)])).toEqual([
      ["lock-b", 1],
      ["lock-b", 2],
    ]);
    // Behind 4 rows of lock-a, a batch of one item of lock-b finds none: its lane waits for lock-a's to go.
    expect(outbox.take(1, 1_000_000, 0, onlyB)).toEqual([]);
    expect(outbox.take(2, 1_000_000, 0, onlyB).map(seq)).toEqual([1, 2]);
    outbox.remove(outbox.take(1, 1_000_000));
    expect(outbox.take(1, 1_000_000, 0, onlyB).map(seq)).toEqual([1]);
  });

  it("keeps the receipt peek's event type with the item; a row stored before it was kept is peeked again", async () => {
    // A bridge of schema 4 stored an unlock event; this one opens its database.
    const old = openDatabase(join(dir.path, "bridge.db"), {
      synchronous: "full",
      migrations: BRIDGE_MIGRATIONS.slice(0, 4),
    });
    old
      .prepare(
        "INSERT INTO outbox (kind, lock_id, report, bytes, created_at, ready) VALUES ('event', 'lock-a', ?, ?, 0, 1)",
      )
      .run(sealedEvent("lock-a", 1), sealedEvent("lock-a", 1).length);
    old.close();
    const { outbox } = open();
    // The type is taken as stored, not read from the bytes again (these say `unlocked`).
    await outbox.add({ kind: "event", lockId: "lock-a", report: sealedEvent("lock-a", 2), eventType: "state_applied" });
    await outbox.add({ kind: "event", lockId: "lock-a", report: sealedEvent("lock-a", 3), eventType: "locked" });
    const [before, applied, locked] = outbox.take(10, 100_000);
    expect([before!.eventType, applied!.eventType, locked!.eventType]).toEqual([null, "state_applied", "locked"]);
    expect([before, applied, locked].map((i) => movesAck(i!))).toEqual([true, false, true]);
  });

  it("reads a lane's locks out of SQLite only, and works out the lane of a row stored without its key", async () => {
    const { outbox } = open();
    db.prepare("UPDATE locks SET assigned = 1 WHERE lock_id = 'lock-b'").run();
    await outbox.add(item(1));
    await outbox.add(item(1, "lock-b"));
    // A row an older bridge stored (no lane key), of each lock.
    const old = db.prepare(
      "INSERT INTO outbox (kind, lock_id, report, bytes, created_at, ready) VALUES ('event', ?, ?, ?, 0, 1)",
    );
    old.run("lock-a", sealedEvent("lock-a", 2), sealedEvent("lock-a", 2).length);
    old.run("lock-b", sealedEvent("lock-b", 2), sealedEvent("lock-b", 2).length);
    expect(db.prepare("SELECT lane_key AS k FROM outbox ORDER BY id").all()).toEqual([
      { k: lockHash("lock-a") },
      { k: lockHash("lock-b") },
      { k: null },
      { k: null },
    ]);
    const lane = (index: number) => outbox.take(10, 1_000_000, 0, { index, of: 2 }).map((i) => [i.lockId, seq(i)]);
    expect(lane(0)).toEqual([
      ["lock-a", 1],
      ["lock-a", 2],
    ]);
    expect(lane(1)).toEqual([
      ["lock-b", 1],
      ["lock-b", 2],
    ]);
    // The statement leaves other lanes' rows in SQLite: a key that says lane 1 keeps a row out of lane 0.
    db.prepare("UPDATE outbox SET lane_key = 1 WHERE id = 1").run();
    expect(lane(0)).toEqual([["lock-a", 2]]);
  });

  it("limits a batch by count and bytes", async () => {
    const { outbox } = open();
    for (let i = 1; i <= 20; i++) await outbox.add(item(i));
    expect(outbox.take(5, 1_000_000)).toHaveLength(5);
    const size = uploadBytes(outbox.take(1, 1_000_000)[0]!);
    expect(outbox.take(20, size * 3)).toHaveLength(3);
  });

  it("refuses when full under the refuse policy, and keeps what it has", async () => {
    const { outbox, metrics } = open({ maxItems: 3 });
    await outbox.add(item(1));
    await outbox.add(item(2));
    await outbox.add(item(3));
    await expect(outbox.add(item(4))).rejects.toBeInstanceOf(OutboxFullError);
    expect(outbox.size.items).toBe(3);
    expect(metrics.outboxRefused.value()).toBe(1);
    expect(await metrics.registry.metrics()).toMatch(/latchkey_bridge_outbox_full 1/);
    outbox.remove(outbox.take(1, 100_000));
    await outbox.add(item(4));
    expect(outbox.take(10, 100_000).map(seq)).toEqual([2, 3, 4]);
  });

  it("drops the oldest items under drop-oldest and counts them", async () => {
    const { outbox, metrics } = open({ maxItems: 3, fullPolicy: "drop-oldest" });
    for (let i = 1; i <= 5; i++) await outbox.add(item(i));
    expect(outbox.take(10, 100_000).map(seq)).toEqual([3, 4, 5]);
    expect(await metrics.registry.metrics()).toMatch(/latchkey_bridge_outbox_dropped_total\{reason="full"\} 2/);
  });

  it("enforces the byte limit too", async () => {
    const size = item(1).report.length;
    const { outbox } = open({ maxBytes: size * 2 + 1 });
    await outbox.add(item(1));
    await outbox.add(item(2));
    await expect(outbox.add(item(3))).rejects.toBeInstanceOf(OutboxFullError);
  });

  it("drops items past their age limit", async () => {
    const { outbox, metrics } = open({ maxAgeHours: 1 });
    await outbox.add(item(1));
    clock.advance(30 * 60_000);
    await outbox.add(item(2));
    clock.advance(31 * 60_000);
    expect(outbox.expire()).toBe(1);
    expect(outbox.take(10, 100_000).map(seq)).toEqual([2]);
    expect(await metrics.registry.metrics()).toMatch(/latchkey_bridge_outbox_dropped_total\{reason="age"\} 1/);
  });
});

describe("group commit", () => {
  it("commits writes of one turn together and rejects only the failing one", async () => {
    const dir = tempDir();
    const db = openDatabase(join(dir.path, "x.db"), {
      synchronous: "normal",
      migrations: ["CREATE TABLE t (v INTEGER UNIQUE)"],
    });
    try {
      const batcher = new WriteBatcher(db);
      const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
      const results = await Promise.allSettled([
        batcher.run(() => insert.run(1)),
        batcher.run(() => {
          insert.run(2);
          insert.run(1); // violates UNIQUE: this write (and its 2) rolls back alone
        }),
        batcher.run(() => insert.run(3)),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(db.prepare("SELECT v FROM t ORDER BY v").pluck().all()).toEqual([1, 3]);
    } finally {
      db.close();
      dir.remove();
    }
  });
});

describe("bridge schema migration 4 (the switch-over)", () => {
  it("drops keys, issuers and the sync columns, keeps presence and drops unsigned event items", () => {
    const dir = tempDir();
    const path = join(dir.path, "bridge.db");
    let db: Db | null = null;
    try {
      // A database of the bridge before the switch-over.
      const old = openDatabase(path, { synchronous: "normal", migrations: BRIDGE_MIGRATIONS.slice(0, 3) });
      old.prepare("INSERT INTO locks (lock_id, assigned, desired_v, reported_v) VALUES ('lock-a', 1, 7, 7)").run();
      old
        .prepare(
          "INSERT INTO keys (key_id, lock_id, cti, sub, nbf, exp, state) VALUES ('k1', 'lock-a', 'aa', ?, 1, 2, 'active')",
        )
        .run("+4790000001");
      const insert = old.prepare(
        "INSERT INTO outbox (kind, lock_id, item_id, body, bytes, created_at, ready) VALUES (?, 'lock-a', NULL, ?, 10, 1, 1)",
      );
      insert.run("event", '{"id":"01","lockId":"lock-a","seq":1}');
      insert.run("presence", '{"lockId":"lock-a","online":true,"ts":1}');
      insert.run("telemetry", '{"id":"02","lockId":"lock-a","level":80}');
      old.close();

      const migrated = openDatabase(path, { synchronous: "normal", migrations: BRIDGE_MIGRATIONS });
      db = migrated;
      const tables = migrated.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
      expect(tables).not.toContain("keys");
      expect(tables).not.toContain("issuers");
      expect(tables).toContain("actions");
      const columns = (migrated.prepare("PRAGMA table_info(locks)").all() as { name: string }[]).map((c) => c.name);
      expect(columns).not.toContain("desired_v");
      expect(columns).toEqual(expect.arrayContaining(["claimed", "identity_key", "x25519_key", "ble_reports_after"]));
      expect(migrated.prepare("SELECT assigned FROM locks WHERE lock_id = 'lock-a'").pluck().get()).toBe(1);
      const left = migrated.prepare("SELECT id, kind, body, report FROM outbox").all();
      expect(left).toEqual([
        { id: 2, kind: "presence", body: '{"lockId":"lock-a","online":true,"ts":1}', report: null },
      ]);
      // New items follow the old ids (AUTOINCREMENT carried over), and an item is a body or a report, never both.
      migrated
        .prepare(
          "INSERT INTO outbox (kind, lock_id, report, bytes, created_at) VALUES ('event', 'lock-a', x'01', 1, 2)",
        )
        .run();
      expect(migrated.prepare("SELECT MAX(id) FROM outbox").pluck().get()).toBe(4);
      expect(() =>
        migrated
          .prepare(
            "INSERT INTO outbox (kind, lock_id, body, report, bytes, created_at) VALUES ('event', 'x', 'b', x'01', 1, 2)",
          )
          .run(),
      ).toThrow(/CHECK/);
    } finally {
      if (db?.open) db.close();
      dir.remove();
    }
  });
});
