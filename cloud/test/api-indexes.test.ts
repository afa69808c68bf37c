import fc from "fast-check";
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { keyState } from "../src/domain/keys.js";
import type { KeyRecord } from "../src/store/records.js";
import { repositories } from "../src/store/repositories/index.js";
import { SqliteSql } from "../src/store/sqlite/sql.js";
import type { EventPageRequest, KeyFilter, KeyStateName, LockSort } from "../src/store/store.js";
import { DATABASE_URL, NO_DATABASE_REASON } from "./postgres.js";
import { postgresPlanSchema, sqlitePlanStore } from "./query-plans.js";
import { eventRecord, keyRecord } from "./store-fixtures.js";

/**
 * Issue 14: a filtered page of keys or events reads its rows through an index in page order (migration 9), never a
 * scan of the table nor a sort of every match, on both stores. The statements are the repositories' own: each runs
 * its list over a driver's SQL, the statements it prepared are captured, and the database explains them.
 */

const TYPES = ["unlocked", "denied", "locked", "jammed"];
const CURSOR = "e".repeat(32);

/** Each event filter shape and the index that should serve it (with two filters, either one's index will do). */
const EVENT_SHAPES: [string, Partial<EventPageRequest>, string | string[]][] = [
  ["no filter", {}, "events_lock_holder_ts"],
  ["lockId", { lockId: "lock-1" }, "events_lock_ts"],
  ["keyId", { keyId: "key_1" }, "events_key_ts"],
  ["userId", { userId: "+4791234567" }, "events_user_ts"],
  ["action", { types: ["denied"] }, "events_type_ts"],
  ["from and to", { sinceS: 1_800_000_000, untilS: 1_800_086_400 }, "events_lock_holder_ts"],
  ["lockId after a cursor", { lockId: "lock-1", startAfterId: CURSOR }, "events_lock_ts"],
  ["userId and action", { userId: "+4791234567", types: ["unlocked"] }, ["events_user_ts", "events_type_ts"]],
];

const LOCK_PAGES: [LockSort, "asc" | "desc", string][] = [
  ["name", "asc", "locks_lock_holder_name"],
  ["name", "desc", "locks_lock_holder_name"],
  ["created", "asc", "locks_lock_holder_created"],
  ["created", "desc", "locks_lock_holder_created"],
];

const KEY_SHAPES: [string, KeyFilter, string][] = [
  ["no filter", {}, "keys_lock_holder"],
  ["lockId", { lockId: "lock-1" }, "keys_lock_page"],
  ["userId", { userId: "+4791234567" }, "keys_user_page"],
  ["state revoked", { state: { name: "revoked", now: 1 } }, "keys_status_page"],
  ["state active", { state: { name: "active", now: 1 } }, "keys_status_page"],
  ["state expired", { state: { name: "expired", now: 1 } }, "keys_status_page"],
];

const cursorEvent = eventRecord({ id: CURSOR, lockHolderId: "lh_1", receivedAt: 1 });

const page = (shape: Partial<EventPageRequest>): EventPageRequest => ({ limit: 10, sinceS: 0, types: TYPES, ...shape });

describe("filtered pages read an index in page order: SQLite", () => {
  const store = sqlitePlanStore();
  const spy = store.db;
  const plan = (matches: (text: string) => boolean) => store.explainLast(matches).detail;
  const lastSelect = (s: string) => s.startsWith("SELECT *");

  it.each(EVENT_SHAPES)("events, %s", async (_name, shape, index) => {
    const events = repositories(new SqliteSql(spy)).events;
    await events.insertIfNew(cursorEvent);
    await events.listForLockHolder("lh_1", page(shape));
    const detail = plan(lastSelect);
    expect(
      [index].flat().some((i) => detail.includes(`SEARCH events USING INDEX ${i} `)),
      detail,
    ).toBe(true);
    expect(detail).not.toContain("TEMP B-TREE");
  });

  it.each(KEY_SHAPES)("keys, %s", async (_name, filter, index) => {
    await repositories(new SqliteSql(spy)).keys.list("lh_1", { limit: 10 }, filter);
    const detail = plan(lastSelect);
    expect(detail).toContain(`SEARCH keys USING INDEX ${index} `);
    expect(detail).not.toContain("TEMP B-TREE");
  });

  it("the webhook worker's claim finds paused webhooks by index (migration 15), not a scan of webhooks", async () => {
    await repositories(new SqliteSql(spy)).deliveries.claimDue(1, 10, 1);
    const detail = plan((s) => s.startsWith("UPDATE webhook_deliveries SET claimed_until"));
    // The partial index holds only the paused webhooks: reading all of it reads only them.
    expect(detail).toMatch(/webhooks USING (COVERING )?INDEX webhooks_paused/);
    expect(detail).not.toMatch(/SCAN webhooks(?! USING)/);
  });

  it("events after a cursor: the cursor is the index range, not a filter over every newer event", async () => {
    const events = repositories(new SqliteSql(spy)).events;
    await events.insertIfNew(cursorEvent);
    await events.listForLockHolder("lh_1", page({ lockId: "lock-1", startAfterId: CURSOR }));
    // The row value bounds the range from above (SQLite shows it as ts_s<?): the scan starts at the cursor.
    const text = (s: string) =>
      s.startsWith("SELECT * FROM events WHERE") && s.includes("lock_id = ?") && s.includes(" n ");
    expect(plan(text)).toMatch(/SEARCH events USING INDEX events_lock_ts \(lock_id=\? AND ts_s>\? AND ts_s<\?\)/);
  });

  it.each(LOCK_PAGES)("locks after a cursor, by %s %s: the cursor is the index range", async (sort, order, index) => {
    spy.exec(`INSERT OR IGNORE INTO locks (id, lock_holder_id, vendor_connection_id, vendor, name, created_at)
      VALUES ('lock_pl', 'lh_pl', 'vc_pl', 'sim', 'front door', 1)`);
    await repositories(new SqliteSql(spy)).locks.list("lh_pl", { limit: 10, startAfterId: "lock_pl" }, sort, order);
    const detail = plan((s) => s.startsWith("SELECT * FROM locks WHERE lock_holder_id"));
    const column = sort === "name" ? "name" : "created_at";
    expect(detail).toContain(
      `SEARCH locks USING INDEX ${index} (lock_holder_id=? AND (${column},id)${order === "asc" ? ">" : "<"}(?,?))`,
    );
    expect(detail).not.toContain("TEMP B-TREE");
  });

  it("the presence worker finds the held-back presence changes due by index (migration 16), in order", async () => {
    await repositories(new SqliteSql(spy)).locks.presenceDue(1, 10);
    const detail = plan((s) => s.includes("WHERE presence_due_at <="));
    expect(detail).toContain("SEARCH locks USING INDEX locks_presence_due (presence_due_at<?)");
    expect(detail).not.toContain("TEMP B-TREE");
  });

  it("the state filter's SQL agrees with the state keys show, for any key and clock", async () => {
    const keys = repositories(new SqliteSql(spy)).keys;
    const STATES: KeyStateName[] = ["creating", "scheduled", "active", "expired", "error", "revoked"];
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            status: fc.constantFrom<KeyRecord["status"]>("creating", "created", "error", "revoked"),
            startAt: fc.integer({ min: 0, max: 100 }),
            length: fc.option(fc.integer({ min: 0, max: 100 })),
          }),
          { maxLength: 12 },
        ),
        fc.integer({ min: 0, max: 200 }),
        async (specs, now) => {
          const lockHolderId = `lh_prop_${n++}`;
          const records = specs.map(
            (s, i): KeyRecord =>
              keyRecord({
                id: `key_${String(i).padStart(3, "0")}`.concat(lockHolderId),
                lockHolderId,
                cti: `${lockHolderId}-${i}`,
                startAt: s.startAt,
                endAt: s.length === null ? null : s.startAt + s.length,
                status: s.status,
                createdAt: 0,
              }),
          );
          await keys.insertMany(records);
          for (const name of STATES) {
            const listed = (await keys.list(lockHolderId, { limit: 100 }, { state: { name, now } })).items;
            const expected = records.filter((k) => keyState(k, now) === name).map((k) => k.id);
            expect(listed.map((k) => k.id).sort()).toEqual(expected.sort());
          }
        },
      ),
      { seed: 14, numRuns: 200 },
    );
  });
});

describe.skipIf(!DATABASE_URL)("filtered pages read an index in page order: PostgreSQL", () => {
  // On tables this small a sequential scan is cheapest; off, the plan shows whether an index serves the page in order.
  const store = postgresPlanSchema("SET enable_seqscan = off");
  const { connect, recording } = store;
  const plan = (c: pg.Client) => store.explainLast(c, (text) => text.startsWith("SELECT *"));

  it.each(EVENT_SHAPES)("events, %s", async (_name, shape, index) => {
    const c = await connect();
    const events = repositories(recording(c)).events;
    await events.insertIfNew(cursorEvent);
    await events.listForLockHolder("lh_1", page(shape));
    const detail = await plan(c);
    expect(
      [index].flat().some((i) => detail.includes(`Index Scan Backward using ${i} on events`)),
      detail,
    ).toBe(true);
    expect(detail).not.toMatch(/Sort|Seq Scan/);
  });

  it("a page of events is planned with its values at each call, never a cached generic plan", async () => {
    // After five executions PostgreSQL may keep a named statement's generic plan; for key + action that plan read and
    // sorted every event of the key (issue 17, scripts/README.md "fourth pass"). Unnamed, it is never cached.
    const c = await connect();
    const events = repositories(recording(c)).events;
    for (let i = 0; i < 7; i++) await events.listForLockHolder("lh_1", page({ keyId: "key_1", types: ["unlocked"] }));
    const sent = store.issued.filter((q) => q.text.startsWith("SELECT * FROM events WHERE lock_holder_id"));
    expect(sent.length).toBeGreaterThanOrEqual(7);
    for (const q of sent) expect((q as { name?: string }).name).toBeUndefined();
    const { rows } = await c.query(
      "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE 'SELECT * FROM events WHERE lock_holder_id%'",
    );
    expect(rows[0].n).toBe(0);
  });

  it("a page of keys is planned with its values at each call, never a cached generic plan", async () => {
    // By lock and user, PostgreSQL kept a generic plan after five pages that read every key of the user on
    // keys_user_page to find the lock's few (issue 17, scripts/README.md "fifth pass"). Unnamed, it is never cached.
    const c = await connect();
    const keys = repositories(recording(c)).keys;
    for (let i = 0; i < 7; i++) await keys.list("lh_1", { limit: 10 }, { lockId: "lock_1", userId: "user_1" });
    const sent = store.issued.filter((q) => q.text.startsWith("SELECT * FROM keys WHERE lock_holder_id"));
    expect(sent.length).toBeGreaterThanOrEqual(7);
    for (const q of sent) expect((q as { name?: string }).name).toBeUndefined();
    const { rows } = await c.query(
      "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE 'SELECT * FROM keys WHERE lock_holder_id%'",
    );
    expect(rows[0].n).toBe(0);
  });

  it.each(KEY_SHAPES)("keys, %s", async (_name, filter, index) => {
    const c = await connect();
    await repositories(recording(c)).keys.list("lh_1", { limit: 10 }, filter);
    const detail = await plan(c);
    expect(detail).toContain(`Index Scan using ${index} on keys`);
    expect(detail).not.toMatch(/Sort|Seq Scan/);
  });

  it("events after a cursor: the cursor is the index range, not a filter over every newer event", async () => {
    // As `ts_s < ? OR (ts_s = ? AND n < ?)` a page read every event newer than the cursor (issue 17, "fifth pass").
    const c = await connect();
    const events = repositories(recording(c)).events;
    await events.insertIfNew(cursorEvent);
    await events.listForLockHolder("lh_1", page({ lockId: "lock-1", startAfterId: CURSOR }));
    expect(await plan(c)).toMatch(/Index Cond: \(\(lock_id = 'lock-1'::text\) AND .*\(ROW\(ts_s, n\) < ROW\(/);
  });

  it.each(LOCK_PAGES)("locks after a cursor, by %s %s: the cursor is the index range", async (sort, order, index) => {
    // As `k > ? OR (k = ? AND id > ?)` the cursor was a filter: every page read the holder's locks from the first one
    // (issue 17, scripts/README.md "fifth pass").
    const c = await connect();
    await c.query(`INSERT INTO integrators (id, name, created_at) VALUES ('int_pl', 'P', 1) ON CONFLICT DO NOTHING`);
    await c.query(`INSERT INTO lock_holders (id, integrator_id, name, created_at) VALUES ('lh_pl', 'int_pl', 'P', 1)
      ON CONFLICT DO NOTHING`);
    await c.query(`INSERT INTO vendor_connections (id, lock_holder_id, vendor, state, created_at, updated_at)
      VALUES ('vc_pl', 'lh_pl', 'sim', 'connected', 1, 1) ON CONFLICT DO NOTHING`);
    await c.query(`INSERT INTO locks (id, lock_holder_id, vendor_connection_id, vendor, name, created_at)
      VALUES ('lock_pl', 'lh_pl', 'vc_pl', 'sim', 'front door', 1) ON CONFLICT DO NOTHING`);
    await repositories(recording(c)).locks.list("lh_pl", { limit: 10, startAfterId: "lock_pl" }, sort, order);
    const detail = await store.explainLast(c, (text) => text.startsWith("SELECT * FROM locks WHERE lock_holder_id"));
    const column = sort === "name" ? "name" : "created_at";
    expect(detail).toContain(`using ${index} on locks`);
    expect(detail).toMatch(
      new RegExp(`Index Cond: \\(\\(lock_holder_id = 'lh_pl'::text\\) AND \\(ROW\\(${column}, id\\) [<>] ROW\\(`),
    );
    expect(detail).not.toMatch(/Sort|Seq Scan/);
  });

  it("the presence worker finds the held-back presence changes due by index (migration 16)", async () => {
    const c = await connect();
    await repositories(recording(c)).locks.presenceDue(1, 10);
    const detail = await plan(c);
    expect(detail).toContain("Index Scan using locks_presence_due on locks");
    expect(detail).not.toMatch(/Sort|Seq Scan/);
  });

  it("the webhook worker's claim finds paused webhooks by index (migration 15)", async () => {
    const c = await connect();
    await repositories(recording(c)).deliveries.claimDue(1, 10, 1);
    const detail = await store.explainLast(c, (text) => text.includes("UPDATE webhook_deliveries d SET claimed_until"));
    expect(detail).toMatch(/(Index Only Scan using|Index Scan using|Bitmap Index Scan on) webhooks_paused/);
    expect(detail).not.toMatch(/Seq Scan on webhooks /);
  });
});

if (!DATABASE_URL) describe("PostgreSQL plans", () => it.skip(NO_DATABASE_REASON, () => {}));
