import { randomBytes } from "node:crypto";
import { Client, escapeIdentifier } from "pg";
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
