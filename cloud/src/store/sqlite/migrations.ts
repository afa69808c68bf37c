import type Database from "better-sqlite3";
import { type DdlTypes, migrations } from "../migrations.js";

const SQLITE_DDL: DdlTypes = {
  dialect: "sqlite",
  int: "INTEGER",
  serial: "INTEGER PRIMARY KEY AUTOINCREMENT",
  issuerKeyOrder: "",
  textCollation: "",
};

/** The schema's migrations (../migrations.ts) in SQLite's dialect; the version is PRAGMA user_version. */
export const MIGRATIONS: readonly string[] = migrations(SQLITE_DDL);

export function migrate(db: Database.Database): number {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `the database is at schema version ${current}, newer than this cloud knows (${MIGRATIONS.length}): upgrade latchkey-cloud`,
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return MIGRATIONS.length;
}
