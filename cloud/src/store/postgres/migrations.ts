import { type ClientBase, escapeIdentifier } from "pg";
import { type DdlTypes, migrations } from "../migrations.js";

const POSTGRES_DDL: DdlTypes = {
  dialect: "postgres",
  int: "BIGINT",
  serial: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
  issuerKeyOrder: "n BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,\n    ",
  textCollation: ' COLLATE "C"',
};

/** The schema's migrations (../migrations.ts) in PostgreSQL's dialect; applied versions are in schema_migrations. */
export const PG_MIGRATIONS: readonly string[] = migrations(POSTGRES_DDL);

/** Serializes schema creation and migration across processes starting at once (per database). */
const MIGRATE_LOCK = "latchkey-cloud:migrate";

/**
 * Brings the schema the connection's search_path names up to date, under an advisory lock so two cloud processes
 * starting together migrate once. Creates that schema if it does not exist yet (`?options=-c search_path=…` in the
 * URL gives each deployment or test its own). Answers the schema's name.
 */
export async function migrate(client: ClientBase, now: number): Promise<string> {
  await client.query("SELECT pg_advisory_lock(hashtext($1))", [MIGRATE_LOCK]);
  try {
    const schema = await ensureSchema(client);
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
    );
    const { rows } = await client.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations");
    const current = Number(rows[0].v);
    if (current > PG_MIGRATIONS.length) {
      throw new Error(
        `the database is at schema version ${current}, newer than this cloud knows (${PG_MIGRATIONS.length}): upgrade latchkey-cloud`,
      );
    }
    for (let version = current; version < PG_MIGRATIONS.length; version++) {
      await client.query("BEGIN");
      try {
        await client.query(PG_MIGRATIONS[version]!);
        await client.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [version + 1, now]);
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK");
        throw e;
      }
    }
    return schema;
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext($1))", [MIGRATE_LOCK]);
  }
}

async function ensureSchema(client: ClientBase): Promise<string> {
  const current = (await client.query("SELECT current_schema() AS s")).rows[0].s as string | null;
  if (current !== null) return current;
  const path = (await client.query("SELECT current_setting('search_path') AS p")).rows[0].p as string;
  const first = path
    .split(",")
    .map((s) => s.trim().replace(/^"(.*)"$/, "$1"))
    .find((s) => s !== "" && s !== "$user");
  if (!first) throw new Error(`search_path ${JSON.stringify(path)} names no schema to create the tables in`);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${escapeIdentifier(first)}`);
  return first;
}
