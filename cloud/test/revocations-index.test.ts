import { migrate as migrateSqlite } from "@latchkey/runtime";
import Database from "better-sqlite3";
import fc from "fast-check";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { migrate as migratePg } from "../src/store/postgres/migrations.js";
import { PgSql } from "../src/store/postgres/sql.js";
import type { KeyRecord } from "../src/store/records.js";
import { repositories } from "../src/store/repositories/index.js";
import { MIGRATIONS as SQLITE_MIGRATIONS } from "../src/store/sqlite/migrations.js";
import { SqliteSql } from "../src/store/sqlite/sql.js";
import { createTestSchema, DATABASE_URL, NO_DATABASE_REASON, type TestSchema } from "./postgres.js";

/**
 * Issue 17 item 3: a lock's revocations (the list its signed state carries, rebuilt at every state fetch, revocation
 * and prefetch) read the partial index of revoked and narrowed keys (migration 14), not every key of the lock holder;
 * and they are exactly that lock's and holder's revoked or narrowed keys, in cti order.
 */

const key = (i: number, lockId: string, lockHolderId: string, status: KeyRecord["status"], narrowed: boolean) =>
  ({
    id: `key_${lockHolderId}_${i}`,
    lockHolderId,
    lockId,
    cti: `${(i * 7919) % 1000}`.padStart(4, "0") + lockHolderId + i,
    userId: "+4791234567",
    userName: null,
    startAt: 0,
    endAt: null,
    status,
    error: null,
    revokedAt: status === "revoked" ? 5 : null,
    maxTokenExpS: null,
    metadata: null,
    recurrence: null,
    jobId: null,
    createdAt: 0,
    editedAt: narrowed ? 1 : null,
    revokeBefore: narrowed ? 2 : null,
    revokeUntilS: narrowed ? 3 : null,
  }) satisfies KeyRecord;

const spec = fc.array(
  fc.record({
    lock: fc.constantFrom("lock-1", "lock-2"),
    holder: fc.constantFrom("lh_a", "lh_b"),
    status: fc.constantFrom<KeyRecord["status"]>("creating", "created", "error", "revoked"),
    narrowed: fc.boolean(),
  }),
  { maxLength: 30 },
);

let run = 0;
async function agrees(sql: SqliteSql | PgSql): Promise<void> {
  const keys = repositories(sql).keys;
  await fc.assert(
    fc.asyncProperty(spec, async (specs) => {
      const n = run++;
      const records = specs.map((s, i) => key(n * 100 + i, `${s.lock}-${n}`, s.holder, s.status, s.narrowed));
      await keys.insertMany(records);
      const listed = await keys.revokedForLock(`lock-1-${n}`, "lh_a");
      const expected = records
        .filter((k) => k.lockId === `lock-1-${n}` && k.lockHolderId === "lh_a")
        .filter((k) => k.status === "revoked" || k.revokeBefore !== null);
      expect(listed.map((r) => r.cti).sort()).toEqual(expected.map((k) => k.cti).sort());
    }),
    { seed: 17, numRuns: 60 },
  );
}

const REVOKED_SQL = "FROM keys\n         WHERE lock_id = ?";

describe("a lock's revocations: SQLite", () => {
  const db = new Database(":memory:");
  migrateSqlite(db, ":memory:", { migrations: SQLITE_MIGRATIONS, owner: "this cloud knows" });
  db.pragma("foreign_keys = OFF");
  const prepared: string[] = [];
  const prepare = db.prepare.bind(db);
  const spy = Object.create(db) as Database.Database;
  spy.prepare = ((text: string) => {
    prepared.push(text);
    return prepare(text);
  }) as Database.Database["prepare"];
  afterAll(() => db.close());

  it("are the lock's and holder's revoked or narrowed keys", async () => {
    await agrees(new SqliteSql(spy));
  });

  it("read the partial index of revoked keys, in cti order", async () => {
    await repositories(new SqliteSql(spy)).keys.revokedForLock("lock-1", "lh_a");
    const text = prepared.filter((s) => s.includes(REVOKED_SQL)).at(-1)!;
    const detail = prepare(`EXPLAIN QUERY PLAN ${text}`)
      .all("lock-1", "lh_a")
      .map((r) => (r as { detail: string }).detail)
      .join(" | ");
    expect(detail).toContain("SEARCH keys USING INDEX keys_lock_revoked (lock_id=? AND lock_holder_id=?)");
    expect(detail).not.toContain("TEMP B-TREE");
  });
});

describe.skipIf(!DATABASE_URL)("a lock's revocations: PostgreSQL", () => {
  let schema: TestSchema | undefined;
  let client: pg.Client | undefined;
  const issued: { text: string; values: unknown[] }[] = [];
  const connect = async () => {
    if (client) return client;
    schema = await createTestSchema();
    client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    await migratePg(client, 0);
    await client.query("SET session_replication_role = replica");
    return client;
  };
  const recording = (c: pg.Client) =>
    new PgSql({
      query: (q: { text: string; values: unknown[] }) => {
        issued.push(q);
        return c.query(q);
      },
    } as unknown as pg.ClientBase);
  afterAll(async () => {
    await client?.end();
    await schema?.drop();
  });

  it("are the lock's and holder's revoked or narrowed keys", async () => {
    await agrees(recording(await connect()));
  });

  it("read the partial index of revoked keys", async () => {
    const c = await connect();
    await c.query("SET enable_seqscan = off");
    await repositories(recording(c)).keys.revokedForLock("lock-1", "lh_a");
    const q = issued
      .filter((s) => s.text.includes("FROM keys") && s.text.includes("revoke_before IS NOT NULL"))
      .at(-1)!;
    const rows = (await c.query({ text: `EXPLAIN ${q.text}`, values: q.values })).rows;
    const detail = rows.map((r: Record<string, string>) => r["QUERY PLAN"]).join(" | ");
    expect(detail).toContain("keys_lock_revoked");
    expect(detail).not.toContain("keys_status_page");
  });
});

if (!DATABASE_URL) describe("PostgreSQL revocation plans", () => it.skip(NO_DATABASE_REASON, () => {}));
