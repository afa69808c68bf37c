import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { DatabaseError, escapeIdentifier } from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreConflictError } from "../../src/store/errors.js";
import { PG_MIGRATIONS } from "../../src/store/postgres/migrations.js";
import { PgStore } from "../../src/store/postgres/pg-store.js";
import { withSearchPath } from "../../src/store/postgres/url.js";
import type { DeliveryRecord, JobRecord, LockReportRecord } from "../../src/store/records.js";
import { DATABASE_FILE, SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { Store, Tx } from "../../src/store/store.js";
import { until } from "../helpers.js";
import { createTestSchema, DATABASE_URL, inSchema, NO_DATABASE_REASON, type TestSchema } from "../postgres.js";
import { CLAIMS_AT_VERSION_9, expectClaimsMigratedFromVersion9 } from "../schema-v9.js";
import { insertLockHolder, NOW } from "../store-fixtures.js";

let schema: TestSchema;
const stores: Store[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeEach(async (ctx) => {
  if (!DATABASE_URL) ctx.skip(NO_DATABASE_REASON);
  schema = await createTestSchema();
});
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await schema?.drop();
});

async function open(url = schema.url, extra: { fallbackPollMs?: number } = {}): Promise<PgStore> {
  const store = await PgStore.open({ url, poolMax: 4, ...extra });
  stores.push(store);
  return store;
}

async function seedLockHolder(tx: Tx, suffix = "a"): Promise<{ lockHolderId: string; webhookId: string }> {
  await insertLockHolder(tx, suffix);
  await tx.webhooks.insert({
    id: `wh_${suffix}`,
    lockHolderId: `lh_${suffix}`,
    url: "http://127.0.0.1:9/hook",
    secretSealed: "x",
    createdAt: NOW,
    deletedAt: null,
    eventTypes: null,
    pausedAt: null,
  });
  return { lockHolderId: `lh_${suffix}`, webhookId: `wh_${suffix}` };
}

const delivery = (id: string, webhookId: string): DeliveryRecord => ({
  id,
  webhookId,
  eventType: "key_event.created",
  payload: "{}",
  status: "pending",
  attempts: 0,
  nextAttemptAt: NOW,
  lastError: null,
  createdAt: NOW,
  deliveredAt: null,
});

const job = (id: string): JobRecord => ({
  id,
  integratorId: "int_a",
  lockHolderId: "lh_a",
  kind: "keys.batch",
  status: "pending",
  total: 10,
  done: 0,
  keyIds: [],
  results: [],
  createdAt: NOW,
  updatedAt: NOW,
});

/** `parties` transactions meet here before any goes on: `arrive` once each, then await `passed`. */
function barrier(parties: number): { arrive: () => void; passed: Promise<void> } {
  let arrive: () => void = () => {};
  const passed = new Promise<void>((resolve) => {
    let waiting = parties;
    arrive = () => {
      if (--waiting === 0) resolve();
    };
  });
  return { arrive, passed };
}

describe("PostgreSQL store: schema and migrations", () => {
  it("creates the schema search_path names, migrates it to the latest version, and reopening changes nothing", async () => {
    const fresh = `lk_test_fresh_${process.pid}_${Date.now()}`;
    cleanups.push(async () => {
      await inSchema("public", (c) => c.query(`DROP SCHEMA IF EXISTS ${escapeIdentifier(fresh)} CASCADE`));
    });
    const url = withSearchPath(DATABASE_URL!, fresh);
    await (await open(url)).close();
    const store = await open(url);
    expect(store.schema).toBe(fresh);
    const versions = await inSchema(fresh, (c) => c.query("SELECT version FROM schema_migrations ORDER BY version"));
    expect(versions.rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
  });

  it("upgrades a schema of an older version in place, keeping its rows", async () => {
    await inSchema(schema.schema, async (c) => {
      await c.query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
      await c.query(PG_MIGRATIONS[0]!);
      await c.query("INSERT INTO schema_migrations VALUES (1, 0)");
      await c.query("INSERT INTO integrators (id, name, created_at) VALUES ('int_old', 'Old', 1)");
    });
    const store = await open();
    expect((await store.transaction((tx) => tx.integrators.get("int_old")))?.name).toBe("Old");
    expect(await store.transaction((tx) => tx.meta.insertIfAbsent("x", "1"))).toBe(true);
    const versions = await inSchema(schema.schema, (c) => c.query("SELECT max(version) AS v FROM schema_migrations"));
    expect(versions.rows[0].v).toBe(PG_MIGRATIONS.length);
  });

  it("migration 10: one claim per holder and lock id; a claim whose lock reported its authority is confirmed", async () => {
    await inSchema(schema.schema, async (c) => {
      await c.query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
      for (const [i, migration] of PG_MIGRATIONS.slice(0, 9).entries()) {
        await c.query(migration);
        await c.query("INSERT INTO schema_migrations VALUES ($1, 0)", [i + 1]);
      }
      await c.query(CLAIMS_AT_VERSION_9);
    });
    await expectClaimsMigratedFromVersion9(await open());
  });

  it("refuses a database newer than it knows, naming the versions", async () => {
    await (await open()).close();
    await inSchema(schema.schema, (c) =>
      c.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)", [PG_MIGRATIONS.length + 1]),
    );
    await expect(open()).rejects.toThrow(/newer than this cloud knows/);
  });

  it("an unreachable database is a clear error naming it, never its password", async () => {
    const error = await PgStore.open({ url: "postgres://alice:s3cret@127.0.0.1:1/nowhere" }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain("alice@127.0.0.1:1/nowhere");
    expect((error as Error).message).not.toContain("s3cret");
  });

  it("has the same tables, columns, nullability and indexes as the SQLite schema", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-cloud-schema-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    await new SqliteStore(dir).close();
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    const sqlite = new Map<string, string>();
    const sqliteIndexes = new Set<string>();
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all() as { name: string }[];
    for (const { name } of tables) {
      for (const c of db.pragma(`table_info(${name})`) as { name: string; notnull: number; pk: number }[]) {
        // A SQLite primary key may hold NULL unless declared otherwise; PostgreSQL's never does. Ours never do.
        sqlite.set(`${name}.${c.name}`, c.notnull || c.pk ? "not null" : "null");
      }
    }
    for (const { name } of db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'")
      .all() as { name: string }[])
      sqliteIndexes.add(name);
    db.close();

    await (await open()).close();
    const pg = new Map<string, string>();
    const pgIndexes = new Set<string>();
    await inSchema(schema.schema, async (c) => {
      const columns = await c.query(
        `SELECT table_name, column_name, is_nullable FROM information_schema.columns
           WHERE table_schema = $1 AND table_name <> 'schema_migrations'`,
        [schema.schema],
      );
      for (const r of columns.rows)
        pg.set(`${r.table_name}.${r.column_name}`, r.is_nullable === "NO" ? "not null" : "null");
      const indexes = await c.query(
        "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname !~ '_(pkey|key)$'",
        [schema.schema],
      );
      for (const r of indexes.rows) pgIndexes.add(r.indexname);
    });
    // issuer_keys.n stands in for SQLite's implicit rowid (migrations.ts says why).
    pg.delete("issuer_keys.n");
    expect(Object.fromEntries([...pg].sort())).toEqual(Object.fromEntries([...sqlite].sort()));
    expect([...pgIndexes].sort()).toEqual([...sqliteIndexes].sort());
  });
});

describe("PostgreSQL store: transactions", () => {
  it("a failed transaction leaves nothing half-written, and the store still works", async () => {
    const store = await open();
    await expect(
      store.transaction(async (tx) => {
        await seedLockHolder(tx);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await store.transaction((tx) => tx.integrators.get("int_a"))).toBeUndefined();
    expect(await store.transaction((tx) => tx.lockHolders.get("lh_a"))).toBeUndefined();
    await store.transaction((tx) => seedLockHolder(tx));
    expect((await store.transaction((tx) => tx.integrators.get("int_a")))?.createdAt).toBe(NOW);
  });

  it("reads BIGINT columns back as numbers, as SQLite does", async () => {
    const store = await open();
    await store.transaction((tx) => seedLockHolder(tx));
    const lh = await store.transaction((tx) => tx.lockHolders.get("lh_a"));
    expect(lh?.createdAt).toBe(NOW);
    expect(typeof lh?.createdAt).toBe("number");
    expect(await store.transaction((tx) => tx.verifications.countSince("+4791234567", 0))).toBe(0);
  });

  it("runs a transaction again when PostgreSQL reports a serialization conflict (write skew)", async () => {
    const store = await open();
    // Each transaction counts one number's codes, then adds a code for the other number. Run side by side, no serial
    // order explains both counts being 0: PostgreSQL aborts one, and the store runs it again from the start.
    const { arrive: bothRead, passed: readBarrier } = barrier(2);
    const runs = { a: 0, b: 0 };
    const seen: number[] = [];
    const skew = (self: "a" | "b", reads: string, writes: string) =>
      store.transaction(async (tx) => {
        runs[self]++;
        const count = await tx.verifications.countSince(reads, 0);
        if (runs[self] === 1) {
          bothRead();
          await readBarrier;
        }
        await tx.verifications.insert({
          id: `ver_${self}_${runs[self]}`,
          phoneNumber: writes,
          codeHash: "h",
          createdAt: NOW,
          expiresAt: NOW,
          attempts: 0,
          status: "pending",
        });
        seen.push(count);
        return count;
      });
    const [a, b] = await Promise.all([
      skew("a", "+4711111111", "+4722222222"),
      skew("b", "+4722222222", "+4711111111"),
    ]);
    expect(runs.a + runs.b).toBeGreaterThanOrEqual(3);
    expect([a, b].sort()).toEqual([0, 1]);
    const rows = await inSchema(schema.schema, (c) => c.query("SELECT id FROM verifications ORDER BY id"));
    expect(rows.rows).toHaveLength(2);
  });
});

describe("PostgreSQL store: report states read for update (issue 17, fifth pass)", () => {
  const state = (lockId: string, highestCounter: number | null): LockReportRecord => ({
    lockId,
    highestCounter,
    counterFrom: highestCounter === null ? null : 1,
    counterGaps: [],
    ackSeq: 0,
    pendingSeqs: [],
    refused: {},
  });
  const ids = (from: number) => [0, 1, 2, 3, 4].map((i) => `lock_${from + i}`);

  it("two uploads for other locks whose states share a page both commit at the first attempt", async () => {
    const store = await open();
    await store.transaction(async (tx) => {
      for (let i = 0; i < 10; i++) await tx.lockReports.put(state(`lock_${i}`, 1));
    });
    // Both read their five states before either writes: under SERIALIZABLE a plain read of the small table locks the
    // whole relation (or its page), and each write then conflicts with the other's read: both pivots, one aborted.
    const { arrive: bothRead, passed: readBarrier } = barrier(2);
    const runs = { a: 0, b: 0 };
    const upload = (self: "a" | "b", lockIds: string[]) =>
      store.transaction(async (tx) => {
        runs[self]++;
        const states = await tx.lockReports.getManyForUpdate(lockIds);
        if (runs[self] === 1) {
          bothRead();
          await readBarrier;
        }
        for (const s of states) await tx.lockReports.put({ ...s, highestCounter: (s.highestCounter ?? 0) + 1 });
      });
    await Promise.all([upload("a", ids(0)), upload("b", ids(5))]);
    expect(runs).toEqual({ a: 1, b: 1 });
    const after = await store.transaction((tx) => tx.lockReports.getMany([...ids(0), ...ids(5)]));
    expect(after.map((s) => s.highestCounter)).toEqual(Array(10).fill(2));
  });

  it("two uploads for one lock: the second waits, runs again and sees the first's counter (never accepted twice)", async () => {
    const store = await open();
    await store.transaction((tx) => tx.lockReports.put(state("lock_0", 4)));
    let firstRead: () => void = () => {};
    const read = new Promise<void>((resolve) => {
      firstRead = resolve;
    });
    let releaseFirst: () => void = () => {};
    const release = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const accepted: string[] = [];
    const runs = { a: 0, b: 0 };
    // Each carries counter 5: accepted only above the stored counter, as ingestReports judges it.
    const upload = (self: "a" | "b") =>
      store.transaction(async (tx) => {
        runs[self]++;
        const [s] = await tx.lockReports.getManyForUpdate(["lock_0"]);
        if (self === "a" && runs.a === 1) {
          firstRead();
          await release;
        }
        if ((s!.highestCounter ?? 0) >= 5) return;
        await tx.lockReports.put({ ...s!, highestCounter: 5 });
        accepted.push(self);
      });
    const a = upload("a");
    await read;
    const b = upload("b");
    // Most likely b waits for a's row lock by now, then fails on a's commit and runs again; if it has not started
    // yet it simply reads a's counter. Either way only a's counter 5 is accepted.
    await new Promise((resolve) => setTimeout(resolve, 100));
    releaseFirst();
    await Promise.all([a, b]);
    expect(accepted).toEqual(["a"]);
    expect((await store.transaction((tx) => tx.lockReports.get("lock_0")))?.highestCounter).toBe(5);
  });

  it("a lock without a state reads as an empty one and two first uploads for it do not both start its counter", async () => {
    const store = await open();
    const [fresh] = await store.transaction((tx) => tx.lockReports.getManyForUpdate(["lock_new"]));
    expect(fresh).toEqual(state("lock_new", null));
    await store.transaction((tx) => tx.lockReports.reset("lock_new"));
    const accepted: number[] = [];
    await Promise.all(
      [1, 2].map((n) =>
        store.transaction(async (tx) => {
          const [s] = await tx.lockReports.getManyForUpdate(["lock_new"]);
          if (s!.highestCounter !== null) return;
          await tx.lockReports.put({ ...s!, highestCounter: n, counterFrom: n });
          accepted.push(n);
        }),
      ),
    );
    expect(accepted).toHaveLength(1);
  });
});

describe("PostgreSQL store: conflicts past the retries", () => {
  it("a transaction that keeps conflicting ends in StoreConflictError (transient, its cause kept), not the raw error", async () => {
    const store = await open();
    let runs = 0;
    const conflict = () =>
      Object.assign(new DatabaseError("could not serialize access", 0, "error"), { code: "40001" });
    const ended = await store
      .transaction(async () => {
        runs++;
        throw conflict();
      })
      .catch((err: unknown) => err);
    expect(ended).toBeInstanceOf(StoreConflictError);
    expect((ended as Error).cause).toBeInstanceOf(DatabaseError);
    expect(runs).toBe(10);
  });
});

describe("PostgreSQL store: the change feed", () => {
  it("seqs become visible in commit order: a second appender waits until the first has committed", async () => {
    const store = await open();
    await store.transaction((tx) => seedLockHolder(tx));
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let appended: (seq: number) => void = () => {};
    const firstSeq = new Promise<number>((resolve) => {
      appended = resolve;
    });
    const first = store.transaction(async (tx) => {
      appended(await tx.changes.append("issuer", "lh_a", null, { n: 1 }, NOW));
      await held;
    });
    const seq1 = await firstSeq;
    let secondDone = false;
    const second = store
      .transaction((tx) => tx.changes.append("issuer", "lh_a", null, { n: 2 }, NOW))
      .finally(() => {
        secondDone = true;
      });
    // The second appender is parked on the feed's advisory lock while the first is open.
    await until("the second appender to wait on the feed lock", () =>
      inSchema(schema.schema, async (c) => {
        const r = await c.query(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        );
        return r.rows[0].n >= 1;
      }),
    );
    expect(secondDone).toBe(false);
    const visible = await inSchema(schema.schema, (c) => c.query("SELECT seq FROM changes"));
    expect(visible.rows).toEqual([]);
    release();
    await first;
    const seq2 = await second;
    expect(seq2).toBeGreaterThan(seq1);
    const all = await store.transaction((tx) => tx.changes.forBridge("br_none", "lh_a", 0, 10));
    expect(all.map((c) => c.seq)).toEqual([seq1, seq2]);
  });

  it("appendMany keeps the given order", async () => {
    const store = await open();
    const seqs = await store.transaction((tx) =>
      tx.changes.appendMany(
        [1, 2, 3, 4, 5].map((n) => ({
          kind: "issuer",
          lockHolderId: "lh_a",
          vendorConnectionId: null,
          payload: { n },
          at: NOW,
        })),
      ),
    );
    const rows = await store.transaction((tx) => tx.changes.forBridge("br_none", "lh_a", 0, 10));
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    expect(rows.map((r) => r.payload.n)).toEqual([1, 2, 3, 4, 5]);
  });

  it("LISTEN/NOTIFY: a commit that appends wakes another store's listeners; a rollback or another schema does not", async () => {
    const listening = await open(schema.url, { fallbackPollMs: 3_600_000 });
    const writer = await open();
    const other = await createTestSchema();
    cleanups.push(() => other.drop());
    const elsewhere = await open(other.url);
    let calls = 0;
    listening.watchChanges(() => calls++);
    await listening.listening();
    // Notifications arrive in commit order, so once the last one is in, the earlier ones would have been too.
    await elsewhere.transaction((tx) => tx.changes.append("issuer", "lh_x", null, {}, NOW));
    await expect(
      writer.transaction(async (tx) => {
        await tx.changes.append("issuer", "lh_a", null, {}, NOW);
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    await writer.transaction((tx) => tx.changes.append("issuer", "lh_a", null, {}, NOW));
    await until("the notification", () => calls >= 1);
    expect(calls).toBe(1);
  });
});

describe("PostgreSQL store: background work claimed by several processes", () => {
  it("two processes claiming due deliveries at once never claim the same one", async () => {
    const a = await open();
    const b = await open();
    const ids = Array.from({ length: 60 }, (_, i) => `msg_${String(i).padStart(3, "0")}`);
    await a.transaction(async (tx) => {
      const { webhookId } = await seedLockHolder(tx);
      for (const id of ids) await tx.deliveries.insert(delivery(id, webhookId));
    });
    const claimed: { by: string; id: string }[] = [];
    const worker = async (store: Store, by: string) => {
      for (;;) {
        const batch = await store.transaction((tx) => tx.deliveries.claimDue(NOW, 4, 60_000));
        if (batch.length === 0) return;
        for (const d of batch) claimed.push({ by, id: d.id });
      }
    };
    await Promise.all([worker(a, "a1"), worker(a, "a2"), worker(b, "b1"), worker(b, "b2")]);
    expect(claimed.map((c) => c.id).sort()).toEqual(ids);
    // And a claim holds until its lease ends, then the row is due again.
    expect(await a.transaction((tx) => tx.deliveries.claimDue(NOW + 59_999, 100, 1000))).toEqual([]);
    expect(await b.transaction((tx) => tx.deliveries.claimDue(NOW + 60_000, 100, 1000))).toHaveLength(ids.length);
  });

  it("two processes claiming jobs at once take different jobs; progress from a stale position is refused", async () => {
    const a = await open();
    const b = await open();
    const ids = Array.from({ length: 8 }, (_, i) => `job_${i}`);
    await a.transaction(async (tx) => {
      for (const id of ids) await tx.jobs.insert(job(id));
    });
    const claims = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).transaction((tx) => tx.jobs.claimNext(NOW, 30_000))),
    );
    const taken = claims.flatMap((c) => (c ? [c.id] : []));
    expect(taken.sort()).toEqual(ids);
    expect(await a.transaction((tx) => tx.jobs.claimNext(NOW + 29_999, 30_000))).toBeUndefined();
    // A lease that ran out lets another worker take the job over; the first one's next progress write then fails.
    const takeover = await b.transaction((tx) => tx.jobs.claimNext(NOW + 30_000, 30_000));
    expect(takeover?.id).toBe("job_0");
    expect(await b.transaction((tx) => tx.jobs.progress("job_0", 0, 5, [], NOW, NOW + 60_000))).toBe(true);
    expect(await a.transaction((tx) => tx.jobs.progress("job_0", 0, 5, [], NOW, NOW + 60_000))).toBe(false);
    // A worker letting go of a job hands it out again at once, the clock unmoved; only from where the job stands.
    expect(await a.transaction((tx) => tx.jobs.release("job_0", 0, NOW))).toBe(false);
    expect(await b.transaction((tx) => tx.jobs.release("job_0", 5, NOW))).toBe(true);
    expect((await a.transaction((tx) => tx.jobs.claimNext(NOW, 30_000)))?.done).toBe(5);
  });
});
