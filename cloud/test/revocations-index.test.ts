import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PgSql } from "../src/store/postgres/sql.js";
import type { KeyRecord } from "../src/store/records.js";
import { repositories } from "../src/store/repositories/index.js";
import { SqliteSql } from "../src/store/sqlite/sql.js";
import { DATABASE_URL, NO_DATABASE_REASON } from "./postgres.js";
import { postgresPlanSchema, sqlitePlanStore } from "./query-plans.js";
import { keyRecord } from "./store-fixtures.js";

/**
 * Issue 17 item 3: a lock's revocations (the list its signed state carries, rebuilt at every state fetch, revocation
 * and prefetch) read the partial index of revoked and narrowed keys (migration 14), not every key of the lock holder;
 * and they are exactly that lock's and holder's revoked or narrowed keys, in cti order.
 */

const key = (i: number, lockId: string, lockHolderId: string, status: KeyRecord["status"], narrowed: boolean) =>
  keyRecord({
    id: `key_${lockHolderId}_${i}`,
    lockHolderId,
    lockId,
    cti: `${(i * 7919) % 1000}`.padStart(4, "0") + lockHolderId + i,
    startAt: 0,
    status,
    revokedAt: status === "revoked" ? 5 : null,
    createdAt: 0,
    editedAt: narrowed ? 1 : null,
    revokeBefore: narrowed ? 2 : null,
    revokeUntilS: narrowed ? 3 : null,
  });

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
  const store = sqlitePlanStore();

  it("are the lock's and holder's revoked or narrowed keys", async () => {
    await agrees(new SqliteSql(store.db));
  });

  it("read the partial index of revoked keys, in cti order", async () => {
    await repositories(new SqliteSql(store.db)).keys.revokedForLock("lock-1", "lh_a");
    const { detail } = store.explainLast((s) => s.includes(REVOKED_SQL), ["lock-1", "lh_a"]);
    expect(detail).toContain("SEARCH keys USING INDEX keys_lock_revoked (lock_id=? AND lock_holder_id=?)");
    expect(detail).not.toContain("TEMP B-TREE");
  });
});

describe.skipIf(!DATABASE_URL)("a lock's revocations: PostgreSQL", () => {
  const store = postgresPlanSchema("SET session_replication_role = replica");
  const { connect, recording } = store;

  it("are the lock's and holder's revoked or narrowed keys", async () => {
    await agrees(recording(await connect()));
  });

  it("read the partial index of revoked keys", async () => {
    const c = await connect();
    await c.query("SET enable_seqscan = off");
    await repositories(recording(c)).keys.revokedForLock("lock-1", "lh_a");
    const detail = await store.explainLast(
      c,
      (text) => text.includes("FROM keys") && text.includes("revoke_before IS NOT NULL"),
    );
    expect(detail).toContain("keys_lock_revoked");
    expect(detail).not.toContain("keys_status_page");
  });
});

if (!DATABASE_URL) describe("PostgreSQL revocation plans", () => it.skip(NO_DATABASE_REASON, () => {}));
