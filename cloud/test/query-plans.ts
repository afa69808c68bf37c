import { migrate as migrateSqlite } from "@latchkey/runtime";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll } from "vitest";
import { migrate as migratePg } from "../src/store/postgres/migrations.js";
import { PgSql } from "../src/store/postgres/sql.js";
import { MIGRATIONS as SQLITE_MIGRATIONS } from "../src/store/sqlite/migrations.js";
import { createTestSchema, type TestSchema } from "./postgres.js";

/**
 * The stores the query-plan tests (api-indexes, feed-pages, revocations-index) explain the repositories' own
 * statements on: each records what the repositories prepared or issued, so a test asks the database how it runs the
 * statement a list really sends. Rows there stand alone (no lock holder behind a key), so foreign keys are off.
 * Closed after the file's tests.
 */

export interface SqlitePlanStore {
  db: Database.Database;
  prepared: string[];
  /** The last statement prepared that `matches`, and its plan with `params` (default: 1 for each placeholder). */
  explainLast(matches: (text: string) => boolean, params?: unknown[]): { text: string; detail: string };
}

/** An in-memory SQLite database, migrated, whose `db` records every statement prepared on it in `prepared`. */
export function sqlitePlanStore(): SqlitePlanStore {
  const raw = new Database(":memory:");
  migrateSqlite(raw, ":memory:", { migrations: SQLITE_MIGRATIONS, owner: "this cloud knows" });
  raw.pragma("foreign_keys = OFF");
  const prepared: string[] = [];
  const prepare = raw.prepare.bind(raw);
  const db = Object.create(raw) as Database.Database;
  db.prepare = ((text: string) => {
    prepared.push(text);
    return prepare(text);
  }) as Database.Database["prepare"];
  afterAll(() => raw.close());
  return {
    db,
    prepared,
    explainLast(matches: (text: string) => boolean, params?: unknown[]): { text: string; detail: string } {
      const text = prepared.filter(matches).at(-1)!;
      const detail = prepare(`EXPLAIN QUERY PLAN ${text}`)
        .all(...(params ?? Array((text.match(/\?/g) ?? []).length).fill(1)))
        .map((r) => (r as { detail: string }).detail)
        .join(" | ");
      return { text, detail };
    },
  };
}

/**
 * A fresh PostgreSQL schema, migrated, opened at the first `connect()` with `settings` (SET statements) applied;
 * `recording(client)` is PgSql over it that keeps every statement it issues in `issued`. Dropped after the file.
 */
export function postgresPlanSchema(...settings: string[]) {
  let schema: TestSchema | undefined;
  let client: pg.Client | undefined;
  const issued: { text: string; values: unknown[] }[] = [];
  afterAll(async () => {
    await client?.end();
    await schema?.drop();
  });
  return {
    issued,
    async connect(): Promise<pg.Client> {
      if (client) return client;
      schema = await createTestSchema();
      client = new pg.Client({ connectionString: schema.url });
      await client.connect();
      await migratePg(client, 0);
      for (const setting of settings) await client.query(setting);
      return client;
    },
    recording(c: pg.Client): PgSql {
      return new PgSql({
        query: (q: { text: string; values: unknown[] }) => {
          issued.push(q);
          return c.query(q);
        },
      } as unknown as pg.ClientBase);
    },
    /** The plan of the last statement issued that `matches`, with the values it was sent with. */
    async explainLast(c: pg.Client, matches: (text: string) => boolean): Promise<string> {
      const q = issued.filter((s) => matches(s.text)).at(-1)!;
      const rows = (await c.query({ text: `EXPLAIN ${q.text}`, values: q.values })).rows;
      return rows.map((r: Record<string, string>) => r["QUERY PLAN"]).join(" | ");
    },
  };
}
