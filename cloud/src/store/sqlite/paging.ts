import type Database from "better-sqlite3";
import type { Page } from "../records.js";

/** Lists fetch one row more than asked: its presence says more remains. */
export function toPage<R, T>(rows: R[], limit: number, map: (row: R) => T, idOf: (item: T) => string): Page<T> {
  const items = rows.slice(0, limit).map(map);
  const last = items[items.length - 1];
  return { items, startAfterId: rows.length > limit && last !== undefined ? idOf(last) : null };
}

const statements = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/** Prepared statements, compiled once per connection and SQL text (preparing costs more than running). */
export function prep(db: Database.Database, sql: string): Database.Statement {
  let cache = statements.get(db);
  if (!cache) {
    cache = new Map();
    statements.set(db, cache);
  }
  let statement = cache.get(sql);
  if (!statement) {
    statement = db.prepare(sql);
    cache.set(sql, statement);
  }
  return statement;
}
