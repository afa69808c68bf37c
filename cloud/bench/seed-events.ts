import { join } from "node:path";
import Database from "better-sqlite3";
import { Client, escapeIdentifier } from "pg";
import type { EventRecord } from "../src/store/records.js";
import { DATABASE_FILE } from "../src/store/sqlite/sqlite-store.js";

/**
 * The events curve's seed (issue 17 item 3), generated inside the database: SQLite from a recursive CTE, PostgreSQL
 * from generate_series, in transactions of SEED_CHUNK rows, into the events table the migrations made, each row in
 * order as the store's own insert would write it (`n` from the table's autoincrement or identity, the unique id index
 * kept). The secondary indexes are dropped first and created again afterwards from their own definitions as the
 * database reports them (the same indexes, built by one sort instead of 10M inserts: half the time at 1M, and a
 * packed B-tree as after a REINDEX). 10M rows took ~25 min per store when each batch went through the store from
 * JavaScript.
 *
 * Row i of `count` is a formula, the same in both databases and in `seededEventRow` below (the reference the tests
 * and the bench check the databases against): lock i mod L (seq i div L + 1, so each lock's seqs are 1, 2, 3…),
 * a lock time spread evenly over the 29 days before `nowS`, one of 1,000 users (each with its own key and that key's
 * cti) and one of the types, both from multiplicative (Weyl) hashes of i, and a 32-hex-digit id from four more (the
 * first alone is a bijection of i below 2^32, so ids never collide). code, dropped and v are null, as for a key event
 * with no error. Nothing here is random: the same rows every run, on either store.
 */

export const SEED_CHUNK = 1_000_000;
export const SEED_USERS = 1_000;
export const SEED_DAYS = 29;
const SPAN_S = SEED_DAYS * 86_400;
const M = 4_294_967_296n;

/** Odd multipliers and offsets of the hashes (each `(x * a + b) mod 2^32`). */
const USER_HASH = [2_654_435_761n, 1_013_904_223n] as const;
const TYPE_HASH = [2_246_822_519n, 374_761_393n] as const;
const ID_HASHES = [
  [3_266_489_917n, 668_265_263n],
  [2_869_860_233n, 1_274_126_177n],
  [1_597_334_677n, 2_891_336_453n],
  [3_812_015_801n, 2_166_136_261n],
] as const;
const CTI_HASHES = [
  [2_654_435_769n, 97n],
  [3_432_918_353n, 193n],
  [461_845_907n, 389n],
  [2_246_822_507n, 769n],
] as const;

export interface EventSeedPlan {
  lockHolderId: string;
  lockIds: readonly string[];
  types: readonly string[];
  /** Rows 0 … count - 1. */
  count: number;
  /** The newest lock time is just before this (unix seconds). */
  nowS: number;
  /** Every row's received_at (ms). */
  receivedAt: number;
  /** Rows per transaction (default SEED_CHUNK). */
  chunk?: number;
}

const hash = (x: bigint, [a, b]: readonly [bigint, bigint]) => (x * a + b) % M;
const hex8 = (h: bigint) => h.toString(16).padStart(8, "0");
/** `floor(h * n / 2^32)`: a hash's top bits as 0 … n - 1. */
const scaled = (h: bigint, n: number) => Number((h * BigInt(n)) / M);

/** The user index of row i (its user `+4793` and key `key_bench` with this number). */
export const seededUser = (i: number) => scaled(hash(BigInt(i), USER_HASH), SEED_USERS);
export const seededUserId = (u: number) => `+4793${String(u).padStart(6, "0")}`;
export const seededKeyId = (u: number) => `key_bench${String(u).padStart(4, "0")}`;
export const seededCti = (u: number) => CTI_HASHES.map((h) => hex8(hash(BigInt(u), h))).join("");

/** Row i as the databases generate it. */
export function seededEventRow(plan: EventSeedPlan, i: number): EventRecord {
  const x = BigInt(i);
  const u = seededUser(i);
  return {
    id: ID_HASHES.map((h) => hex8(hash(x, h))).join(""),
    lockHolderId: plan.lockHolderId,
    lockId: plan.lockIds[i % plan.lockIds.length]!,
    seq: Math.floor(i / plan.lockIds.length) + 1,
    tsS: plan.nowS - SPAN_S + Number((x * BigInt(SPAN_S)) / BigInt(plan.count)),
    type: plan.types[scaled(hash(x, TYPE_HASH), plan.types.length)]!,
    cti: seededCti(u),
    keyId: seededKeyId(u),
    userId: seededUserId(u),
    code: null,
    dropped: null,
    v: null,
    receivedAt: plan.receivedAt,
  };
}

const COLUMNS = "id, lock_holder_id, lock_id, seq, ts_s, type, cti, key_id, user_id, code, dropped, v, received_at";

// The hashes as SQL over a column or expression `x` (bigint arithmetic: x < 2^31 keeps every product below 2^63).
const sqlHash = (x: string, [a, b]: readonly [bigint, bigint]) => `((${x} * ${a} + ${b}) % ${M})`;
const sqlScaled = (h: string, n: number) => `(${h} * ${n} / ${M})`;

/**
 * SQLite: rows [from, to) of the plan, one INSERT … SELECT over a recursive CTE. better-sqlite3 binds every JS number
 * as a REAL, so each is cast: integer arithmetic, as the columns hold it.
 */
function sqliteInsert(plan: EventSeedPlan): string {
  const hex = (x: string, hs: readonly (readonly [bigint, bigint])[]) =>
    `printf('${"%08x".repeat(hs.length)}', ${hs.map((h) => sqlHash(x, h)).join(", ")})`;
  const L = plan.lockIds.length;
  return `
    WITH RECURSIVE s(i) AS (SELECT CAST(:from AS INTEGER) UNION ALL SELECT i + 1 FROM s WHERE i + 1 < :to),
    r AS (SELECT i, ${sqlScaled(sqlHash("i", USER_HASH), SEED_USERS)} AS u,
                 ${sqlScaled(sqlHash("i", TYPE_HASH), plan.types.length)} AS t FROM s)
    INSERT INTO events (${COLUMNS})
    SELECT ${hex("i", ID_HASHES)}, :lockHolderId, json_extract(:lockIds, '$[' || (i % ${L}) || ']'), i / ${L} + 1,
      CAST(:startS AS INTEGER) + i * ${SPAN_S} / CAST(:count AS INTEGER), json_extract(:types, '$[' || t || ']'), ${hex("u", CTI_HASHES)},
      printf('key_bench%04d', u), printf('+4793%06d', u), NULL, NULL, NULL, CAST(:receivedAt AS INTEGER)
    FROM r ORDER BY i`;
}

/** PostgreSQL: the same rows from generate_series. */
function postgresInsert(plan: EventSeedPlan): string {
  const hex = (x: string, hs: readonly (readonly [bigint, bigint])[]) =>
    hs.map((h) => `lpad(to_hex(${sqlHash(x, h)}), 8, '0')`).join(" || ");
  const L = plan.lockIds.length;
  return `
    INSERT INTO events (${COLUMNS})
    SELECT ${hex("i", ID_HASHES)}, $1, ($2::text[])[i % ${L} + 1], i / ${L} + 1,
      $3::bigint + i * ${SPAN_S} / $4::bigint, ($5::text[])[t + 1], ${hex("u", CTI_HASHES)},
      'key_bench' || lpad(u::text, 4, '0'), '+4793' || lpad(u::text, 6, '0'), NULL, NULL, NULL, $6::bigint
    FROM (SELECT i, ${sqlScaled(sqlHash("i", USER_HASH), SEED_USERS)} AS u,
                 ${sqlScaled(sqlHash("i", TYPE_HASH), plan.types.length)} AS t
          FROM generate_series($7::bigint, $8::bigint - 1) AS g(i)) r
    ORDER BY i`;
}

/** Where a bench site keeps its rows: the SQLite data directory, or the PostgreSQL URL naming its schema. */
export type SeedTarget = { store: "sqlite"; dataDir: string } | { store: "postgres"; url: string };

/**
 * Inserts the plan's rows straight into the site's database, on a connection of its own (the cloud's stays open and
 * idle meanwhile: SQLite's WAL lets both), SEED_CHUNK rows per transaction. PostgreSQL: then VACUUM ANALYZE, as
 * autovacuum would after a bulk insert (without statistics the planner believes the table empty).
 */
export async function seedEventsInDatabase(
  target: SeedTarget,
  plan: EventSeedPlan,
  log: (message: string) => void = () => {},
): Promise<void> {
  if (plan.count >= 2 ** 31) throw new Error("at most 2^31 - 1 seeded events (the hashes' products must fit 63 bits)");
  const startS = plan.nowS - SPAN_S;
  const chunk = plan.chunk ?? SEED_CHUNK;
  if (target.store === "sqlite") {
    const db = new Database(join(target.dataDir, DATABASE_FILE));
    try {
      db.pragma("busy_timeout = 5000");
      // A larger page cache for this connection only: the indexes' pages stay in memory between chunks.
      db.pragma("cache_size = -1048576");
      // The secondary indexes as the migrations made them (the unique id's autoindex has no SQL and stays).
      const indexes = db
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL")
        .all() as { name: string; sql: string }[];
      for (const ix of indexes) db.exec(`DROP INDEX "${ix.name}"`);
      const insert = db.prepare(sqliteInsert(plan));
      const params = {
        lockHolderId: plan.lockHolderId,
        lockIds: JSON.stringify(plan.lockIds),
        types: JSON.stringify(plan.types),
        startS,
        count: plan.count,
        receivedAt: plan.receivedAt,
      };
      for (let from = 0; from < plan.count; from += chunk) {
        const to = Math.min(plan.count, from + chunk);
        db.transaction(() => insert.run({ ...params, from, to }))();
        db.pragma("wal_checkpoint(TRUNCATE)");
        log(`  seeded ${to} of ${plan.count}`);
      }
      for (const ix of indexes) db.exec(ix.sql);
      log(`  indexes rebuilt: ${indexes.map((ix) => ix.name).join(", ")}`);
    } finally {
      db.close();
    }
    return;
  }
  const client = new Client({ connectionString: target.url });
  await client.connect();
  try {
    const text = postgresInsert(plan);
    // The secondary indexes as the migrations made them (the primary key and the unique id stay).
    const indexes = (
      await client.query<{ name: string; def: string }>(
        `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = 'events'::regclass AND NOT i.indisunique ORDER BY c.relname`,
      )
    ).rows;
    for (const ix of indexes) await client.query(`DROP INDEX ${escapeIdentifier(ix.name)}`);
    await client.query("SET maintenance_work_mem = '512MB'");
    for (let from = 0; from < plan.count; from += chunk) {
      const to = Math.min(plan.count, from + chunk);
      await client.query(text, [
        plan.lockHolderId,
        plan.lockIds,
        startS,
        plan.count,
        plan.types,
        plan.receivedAt,
        from,
        to,
      ]);
      log(`  seeded ${to} of ${plan.count}`);
    }
    for (const ix of indexes) await client.query(ix.def);
    log(`  indexes rebuilt: ${indexes.map((ix) => ix.name).join(", ")}`);
    await client.query("VACUUM ANALYZE events");
  } finally {
    await client.end();
  }
}
