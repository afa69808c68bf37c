import { randomBytes } from "node:crypto";
import { withSearchPath } from "@latchkey/cloud";
import pg from "pg";
import type { Resources } from "./resources.js";

/**
 * With DATABASE_URL set, each spawned cloud gets a PostgreSQL schema of its own in that database (created by the
 * cloud, dropped at cleanup); without it, the clouds use SQLite in their data directory. Returns the environment
 * variables for the cloud process.
 */
export function cloudDatabaseEnv(resources: Resources, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const url = env.DATABASE_URL;
  if (!url) return {};
  const schema = `e2e_${randomBytes(6).toString("hex")}`;
  resources.defer(`drop schema ${schema}`, async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await client.end();
    }
  });
  return { DATABASE_URL: withSearchPath(url, schema) };
}

/** Shown in test names, so a run says which store the spawned clouds used. */
export const cloudStoreName = (env: NodeJS.ProcessEnv = process.env): string =>
  env.DATABASE_URL ? "PostgreSQL" : "SQLite";
