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
