import type Database from "better-sqlite3";
import type { Row } from "../rows.js";
import { type Column, type Dialect, NOT_PAUSED, type RowValues, type Sql } from "../sql.js";

export const SQLITE: Dialect = {
  // A JSON array bound as one value: one statement text (prepared once) however long the list, and no limit on the
  // number of bound variables.
  anyOf: (column, placeholder = "?") => `${column} IN (SELECT value FROM json_each(${placeholder}))`,
  list: (values) => JSON.stringify(values),
  greatest: "MAX",
  insertionOrder: "rowid",
};

const statements = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/** Prepared statements, compiled once per connection and SQL text (preparing costs more than running). */
function prep(db: Database.Database, sql: string): Database.Statement {
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

/**
 * The repositories' SQL on one better-sqlite3 connection. Calls are synchronous underneath; SqliteStore runs one
 * transaction at a time, so nothing here needs to guard against another writer.
 */
export class SqliteSql implements Sql {
  readonly dialect = SQLITE;

  constructor(private readonly db: Database.Database) {}

  async all(text: string, values: readonly unknown[] = []): Promise<Row[]> {
    return prep(this.db, text).all(...values);
  }

  allPlannedPerCall(text: string, values: readonly unknown[] = []): Promise<Row[]> {
    return this.all(text, values);
  }

  async get(text: string, values: readonly unknown[] = []): Promise<Row | undefined> {
    return prep(this.db, text).get(...values);
  }

  async run(text: string, values: readonly unknown[] = []): Promise<number> {
    return prep(this.db, text).run(...values).changes;
  }

  async insertRows(table: string, columns: readonly Column[], rows: RowValues, tail = ""): Promise<Row[]> {
    const names = columns.map(([name]) => name).join(", ");
    const marks = columns.map(() => "?").join(", ");
    const statement = prep(this.db, `INSERT INTO ${table} (${names}) VALUES (${marks}) ${tail}`.trimEnd());
    const returned: Row[] = [];
    for (const row of rows) {
      if (statement.reader) returned.push(...statement.all(...row));
      else statement.run(...row);
    }
    return returned;
  }

  async insertNew(table: string, columns: readonly Column[], rows: RowValues, key: string): Promise<Set<string>> {
    const names = columns.map(([name]) => name).join(", ");
    const marks = columns.map(() => "?").join(", ");
    const at = columns.findIndex(([name]) => name === key);
    if (at < 0) throw new Error(`insertNew: ${key} is not a column of ${table}`);
    const statement = prep(
      this.db,
      `INSERT INTO ${table} (${names}) VALUES (${marks}) ON CONFLICT (${key}) DO NOTHING`,
    );
    const stored = new Set<string>();
    for (const row of rows) if (statement.run(...row).changes === 1) stored.add(row[at] as string);
    return stored;
  }

  async claimDeliveries(now: number, limit: number, leaseMs: number): Promise<Row[]> {
    return prep(
      this.db,
      `UPDATE webhook_deliveries SET claimed_until = ? WHERE id IN (
           SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
             AND (claimed_until IS NULL OR claimed_until <= ?) AND ${NOT_PAUSED} ORDER BY next_attempt_at, id LIMIT ?)
         RETURNING *`,
    ).all(now + leaseMs, now, now, limit);
  }

  async claimJob(now: number, leaseMs: number): Promise<Row | undefined> {
    return prep(
      this.db,
      `UPDATE jobs SET status = 'running', claimed_until = ?, updated_at = ? WHERE id = (
           SELECT id FROM jobs WHERE status = 'pending' OR (status = 'running' AND (claimed_until IS NULL OR claimed_until <= ?))
           ORDER BY id LIMIT 1)
         RETURNING *`,
    ).get(now + leaseMs, now, now);
  }

  /** One writer at a time: seqs are allocated, and become visible, in order by construction. */
  async appendChanges(rows: RowValues): Promise<number[]> {
    const statement = prep(
      this.db,
      "INSERT INTO changes (kind, lock_holder_id, vendor_connection_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
    );
    return rows.map((row) => Number(statement.run(...row).lastInsertRowid));
  }
}
