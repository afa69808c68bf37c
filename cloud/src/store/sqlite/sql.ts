import type Database from "better-sqlite3";
import type { Row } from "../rows.js";
import { type Column, type Dialect, NOT_PAUSED, type RowValues, rowsWhereAnyOf, type Sql } from "../sql.js";

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
 * A reading statement's rows as objects, built here from its raw rows (arrays) and its column names: better-sqlite3
 * builds each row object through V8's API, a property at a time, which cost 2.4 times as much for the locks' 22 columns
 * (scripts/README.md "Issue 17, fourth pass"). Same objects: a property per column in the column order, the last of two
 * same-named columns winning. A statement with a column named `__proto__` keeps better-sqlite3's own objects.
 */
interface Reader {
  statement: Database.Statement;
  names: string[] | undefined;
}

const readers = new WeakMap<Database.Statement, Reader>();

function reader(statement: Database.Statement): Reader {
  let r = readers.get(statement);
  if (r === undefined) {
    // A statement that returns no data keeps better-sqlite3's answer to all/get (its error).
    const names = statement.reader ? statement.columns().map((c) => c.name) : ["__proto__"];
    r = names.includes("__proto__") ? { statement, names: undefined } : { statement: statement.raw(true), names };
    readers.set(statement, r);
  }
  return r;
}

/**
 * The names for a raw row: SQLite re-prepares a statement after a schema change (a migration adding a column to a
 * `SELECT *`), so a row of another width than the names read at first has its names read again.
 */
function namesFor(r: Reader, values: readonly unknown[]): readonly string[] {
  if (r.names !== undefined && values.length !== r.names.length) r.names = r.statement.columns().map((c) => c.name);
  return r.names ?? [];
}

function rowOf(names: readonly string[], values: readonly unknown[]): Row {
  const row: Row = {};
  for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
  return row;
}

function allRows(statement: Database.Statement, values: readonly unknown[]): Row[] {
  const r = reader(statement);
  if (r.names === undefined) return r.statement.all(...values) as Row[];
  const raw = r.statement.all(...values) as unknown[][];
  const rows: Row[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) rows[i] = rowOf(namesFor(r, raw[i]!), raw[i]!);
  return rows;
}

function oneRow(statement: Database.Statement, values: readonly unknown[]): Row | undefined {
  const r = reader(statement);
  if (r.names === undefined) return r.statement.get(...values) as Row | undefined;
  const raw = r.statement.get(...values) as unknown[] | undefined;
  return raw === undefined ? undefined : rowOf(namesFor(r, raw), raw);
}

/**
 * The repositories' SQL on one better-sqlite3 connection. Calls are synchronous underneath; SqliteStore runs one
 * transaction at a time, so nothing here needs to guard against another writer.
 */
export class SqliteSql implements Sql {
  readonly dialect = SQLITE;

  constructor(private readonly db: Database.Database) {}

  async all(text: string, values: readonly unknown[] = []): Promise<Row[]> {
    return allRows(prep(this.db, text), values);
  }

  allPlannedPerCall(text: string, values: readonly unknown[] = []): Promise<Row[]> {
    return this.all(text, values);
  }

  async get(text: string, values: readonly unknown[] = []): Promise<Row | undefined> {
    return oneRow(prep(this.db, text), values);
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
      // Through allRows as every reading call: the cached statement may already be in raw mode (reader()).
      if (statement.reader) returned.push(...allRows(statement, row));
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

  /** One transaction at a time (BEGIN IMMEDIATE): what it reads, no other writes before it commits. */
  rowsForUpdate(table: string, key: string, values: readonly string[]): Promise<Row[]> {
    return rowsWhereAnyOf(this, table, key, values);
  }

  async claimDeliveries(now: number, limit: number, leaseMs: number): Promise<Row[]> {
    const statement = prep(
      this.db,
      `UPDATE webhook_deliveries SET claimed_until = ? WHERE id IN (
           SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
             AND (claimed_until IS NULL OR claimed_until <= ?) AND ${NOT_PAUSED} ORDER BY next_attempt_at, id LIMIT ?)
         RETURNING *`,
    );
    return allRows(statement, [now + leaseMs, now, now, limit]);
  }

  async claimJob(now: number, leaseMs: number): Promise<Row | undefined> {
    const statement = prep(
      this.db,
      `UPDATE jobs SET status = 'running', claimed_until = ?, updated_at = ? WHERE id = (
           SELECT id FROM jobs WHERE status = 'pending' OR (status = 'running' AND (claimed_until IS NULL OR claimed_until <= ?))
           ORDER BY id LIMIT 1)
         RETURNING *`,
    );
    return oneRow(statement, [now + leaseMs, now, now]);
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
