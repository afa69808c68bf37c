import fc from "fast-check";
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { PgSql } from "../src/store/postgres/sql.js";
import type { ChangeKind } from "../src/store/records.js";
import { repositories } from "../src/store/repositories/index.js";
import type { Sql } from "../src/store/sql.js";
import { SqliteSql } from "../src/store/sqlite/sql.js";
import { DATABASE_URL, NO_DATABASE_REASON } from "./postgres.js";
import { postgresPlanSchema, sqlitePlanStore } from "./query-plans.js";

/**
 * Issue 17 item 3: a page of a bridge's change feed reads index ranges cut at the page size, never every entry after
 * the cursor (which made a new bridge's catch-up grow with the square of the feed), and answers exactly the entries
 * the feed owes the bridge, in seq order, whatever mix of connections, other bridges and issuer entries it holds.
 */

const KINDS: ChangeKind[] = ["key", "lock", "vendor_connection", "issuer", "action"];
// Bridge br_1 serves vc_1 and vc_2 of lh_1; br_2 serves vc_3 of lh_2; vc_4 of lh_1 is served by no bridge.
const CONNECTIONS = [
  ["vc_1", "lh_1", "br_1"],
  ["vc_2", "lh_1", "br_1"],
  ["vc_3", "lh_2", "br_2"],
  ["vc_4", "lh_1", null],
] as const;

interface Entry {
  kind: ChangeKind;
  lockHolderId: string;
  vendorConnectionId: string | null;
}

const entry = fc.record({
  kind: fc.constantFrom(...KINDS),
  lockHolderId: fc.constantFrom("lh_1", "lh_2"),
  vendorConnectionId: fc.constantFrom<string | null>("vc_1", "vc_2", "vc_3", "vc_4", null),
});

/** What the feed owes br_1 (docs/bridge-api.md): its connections' entries and lh_1's issuer entries. */
const owed = (e: Entry) =>
  e.vendorConnectionId === "vc_1" ||
  e.vendorConnectionId === "vc_2" ||
  (e.kind === "issuer" && e.lockHolderId === "lh_1");

async function seedConnections(sql: Sql): Promise<void> {
  for (const [id, lh, bridge] of CONNECTIONS)
    await sql.run(
      "INSERT INTO vendor_connections (id, lock_holder_id, vendor, bridge_id, state, created_at, updated_at) VALUES (?, ?, 'sim', ?, 'connected', 0, 0)",
      [id, lh, bridge],
    );
}

/** Appends `entries`, then reads br_1's feed in pages of `limit` from the start: the seqs read, and the seqs owed. */
async function readAll(sql: Sql, entries: Entry[], limit: number): Promise<{ read: number[]; owed: number[] }> {
  const changes = repositories(sql).changes;
  // Each run reads from the end of the runs before it.
  let after = Number((await sql.get("SELECT max(seq) AS n FROM changes"))?.n ?? 0);
  const seqs = await changes.appendMany(entries.map((e) => ({ ...e, payload: {}, at: 0 })));
  const owedSeqs = seqs.filter((_, i) => owed(entries[i]!));
  const read: number[] = [];
  for (;;) {
    const page = await changes.forBridge("br_1", "lh_1", after, limit);
    read.push(...page.map((c) => c.seq));
    if (page.length < limit) break;
    after = page.at(-1)!.seq;
  }
  return { read, owed: owedSeqs };
}

const property = (sql: () => Promise<Sql>) =>
  fc.assert(
    fc.asyncProperty(fc.array(entry, { maxLength: 40 }), fc.integer({ min: 1, max: 7 }), async (entries, limit) => {
      const { read, owed } = await readAll(await sql(), entries, limit);
      expect(read).toEqual(owed);
    }),
    { seed: 17, numRuns: 150 },
  );

describe("the change feed's pages: SQLite", () => {
  const store = sqlitePlanStore();
  const sql = new SqliteSql(store.db);
  const seeded = seedConnections(sql);

  it("answers every entry owed to the bridge once, in seq order, across pages", async () => {
    await seeded;
    await property(async () => sql);
  });

  it("reads one index range per connection and one for issuer entries, each cut at the page size", async () => {
    await seeded;
    await repositories(sql).changes.forBridge("br_1", "lh_1", 0, 500);
    const { text, detail } = store.explainLast((s) => s.includes("FROM changes"));
    expect(
      detail.match(/SEARCH changes USING INDEX changes_connection \(vendor_connection_id=\? AND seq>\?\)/g),
    ).toHaveLength(2);
    expect(detail).toContain(
      "SEARCH changes USING INDEX changes_lock_holder_kind (lock_holder_id=? AND kind=? AND seq>?)",
    );
    // The old statement: both indexes OR-ed, every entry after the cursor sorted per page.
    expect(detail).not.toContain("MULTI-INDEX OR");
    expect(text.match(/LIMIT \?/g)).toHaveLength(4);
  });
});

describe.skipIf(!DATABASE_URL)("the change feed's pages: PostgreSQL", () => {
  // No foreign keys: the rows stand alone.
  const store = postgresPlanSchema("SET session_replication_role = replica");
  let sql: PgSql | undefined;
  const connect = async () => {
    if (sql) return sql;
    sql = new PgSql((await store.connect()) as unknown as pg.ClientBase);
    await seedConnections(sql);
    return sql;
  };

  it("answers every entry owed to the bridge once, in seq order, across pages", async () => {
    await property(connect);
  });
});

if (!DATABASE_URL) describe("PostgreSQL feed pages", () => it.skip(NO_DATABASE_REASON, () => {}));
