import { randomBytes } from "node:crypto";
import { Client, escapeIdentifier, escapeLiteral } from "pg";
import { withSearchPath } from "../src/index.js";

/**
 * PostgreSQL for tests. DATABASE_URL names a database (CI creates a fresh one per run and drops it afterwards); each
 * test cloud gets a schema of its own in it (`search_path` in the URL), dropped when the test is done, so test files
 * running in parallel never see each other's rows.
 */
export const DATABASE_URL = process.env.DATABASE_URL || undefined;

/** LATCHKEY_TEST_STORE=postgres (the cloud-postgres vitest project) runs the whole suite on PostgreSQL. */
export const SUITE_ON_POSTGRES = process.env.LATCHKEY_TEST_STORE === "postgres";

export const NO_DATABASE_REASON =
  "PostgreSQL tests skipped: DATABASE_URL is not set (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db>; " +
  ".ci/run sets it to a fresh database)";

export interface TestSchema {
  schema: string;
  /** DATABASE_URL with search_path set to this schema. */
  url: string;
  drop(): Promise<void>;
}

let counter = 0;

async function admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  if (!DATABASE_URL) throw new Error(NO_DATABASE_REASON);
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty schema (the cloud creates its tables in it on start). */
export async function createTestSchema(): Promise<TestSchema> {
  const schema = `lk_test_${process.pid}_${++counter}_${randomBytes(4).toString("hex")}`;
  await admin((c) => c.query(`CREATE SCHEMA ${escapeIdentifier(schema)}`));
  let dropped = false;
  return {
    schema,
    url: withSearchPath(DATABASE_URL!, schema),
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${escapeIdentifier(schema)} CASCADE`));
    },
  };
}

/** Runs SQL in a schema (tests look at rows directly, or break things on purpose). */
export async function inSchema<T>(schema: string, work: (client: Client) => Promise<T>): Promise<T> {
  return admin(async (c) => {
    await c.query(`SET search_path TO ${escapeIdentifier(schema)}`);
    return work(c);
  });
}

/**
 * Schemas of test clouds that closed, emptied and kept for the next test cloud of this process (`takeTestSchema`):
 * migrating a fresh schema (~160 ms) and dropping it were most of a PostgreSQL test cloud's start and close, and the
 * suite starts hundreds (scripts/README.md "the test run"). The setup file drops the spares after each test file.
 */
const spare: TestSchema[] = [];

/** A schema for a test cloud: an emptied one a closed test cloud left (already migrated), else a fresh one. */
export async function takeTestSchema(): Promise<TestSchema> {
  return spare.pop() ?? createTestSchema();
}

/**
 * Deletes every row of every table in `schema` but its applied migrations, and restarts its sequences, so a cloud
 * started on it finds what it would find in a fresh schema it had just migrated; then keeps it for `takeTestSchema`.
 * Rows go table by table, a table whose rows other rows still reference in a later pass. Dropped instead if that
 * fails. Only for schemas whose tables the tests left as the migrations made them (a test that alters tables uses a
 * schema of its own from `createTestSchema`).
 */
export async function recycleTestSchema(schema: TestSchema): Promise<void> {
  const name = escapeLiteral(schema.schema);
  try {
    await admin((c) =>
      c.query(`DO $$
        DECLARE r record; pending int;
        BEGIN
          FOR pass IN 1..50 LOOP
            pending := 0;
            FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = ${name} AND tablename <> 'schema_migrations' LOOP
              BEGIN
                EXECUTE format('DELETE FROM %I.%I', ${name}, r.tablename);
              EXCEPTION WHEN foreign_key_violation THEN
                pending := pending + 1;
              END;
            END LOOP;
            EXIT WHEN pending = 0;
          END LOOP;
          IF pending > 0 THEN
            RAISE EXCEPTION 'rows of % tables are still referenced', pending;
          END IF;
          FOR r IN SELECT c.oid::regclass AS seq FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.relkind = 'S' AND n.nspname = ${name} LOOP
            PERFORM setval(r.seq, 1, false);
          END LOOP;
        END $$`),
    );
    spare.push(schema);
  } catch {
    await schema.drop();
  }
}

/** Drops the spare schemas this process kept (at the end of a test file). */
export async function dropSpareSchemas(): Promise<void> {
  while (spare.length > 0) await spare.pop()!.drop();
}
