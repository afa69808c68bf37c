import type { Row } from "./rows.js";

/**
 * What the repositories (repositories/) need of a database, so they are written once for SQLite and PostgreSQL. SQL
 * given here uses `?` placeholders on both: the PostgreSQL driver numbers them (`$1`, `$2`, …), so a statement's text
 * is still fixed per call site and prepared once per connection. The rest is where the two really differ: the SQL
 * fragments of `Dialect`, and the statements whose concurrency each database handles its own way (batch inserts, lease
 * claims, change-feed sequence allocation).
 */
export interface Sql {
  readonly dialect: Dialect;
  all(text: string, values?: readonly unknown[]): Promise<Row[]>;
  /**
   * As `all`, but planned with its values at every call. PostgreSQL otherwise prepares each statement once per
   * connection and, after five executions, may keep a generic plan made without the values: for a filtered page of
   * events by key and action that plan read and sorted every event of the key (a bitmap scan, 10,000 rows a page at
   * 10M events) instead of reading the key's index in page order (issue 17, scripts/README.md "fourth pass"). SQLite
   * plans a statement when it prepares it, values or not: there this is `all`.
   */
  allPlannedPerCall(text: string, values?: readonly unknown[]): Promise<Row[]>;
  get(text: string, values?: readonly unknown[]): Promise<Row | undefined>;
  /** Answers the number of rows written. */
  run(text: string, values?: readonly unknown[]): Promise<number>;
  /**
   * Inserts `rows` (one value per column, in `columns` order) in the given order, then `tail` (`ON CONFLICT …`,
   * `RETURNING …`); answers what `RETURNING` gave. One statement per row on SQLite (each is cheap in process), one for
   * the whole list on PostgreSQL (a round trip each would not be).
   */
  insertRows(table: string, columns: readonly Column[], rows: RowValues, tail?: string): Promise<Row[]>;
  /**
   * Inserts each of `rows` whose `key` (a text column with a unique constraint) is not in the table yet, in the given
   * order (of two rows with one key the first is stored); answers the keys stored. SQLite reads each row's change
   * count: `RETURNING` buffers its rows in a temporary table per execution there, which doubled an event's insert.
   */
  insertNew(table: string, columns: readonly Column[], rows: RowValues, key: string): Promise<Set<string>>;
  /**
   * The rows of `table` whose `key` (its primary key, text) is one of `values`, for a transaction that goes on to write
   * them: read so that a concurrent transaction writing other rows of the table does not conflict with this one.
   * SQLite runs one transaction at a time, so there it is a plain read. PostgreSQL's SERIALIZABLE records each read as
   * a predicate lock, per relation when a small table is scanned and per page once 3 rows of a page are read
   * (max_pred_locks_per_page), so two transactions reading and then updating disjoint rows of one page both abort
   * as pivots; there the rows are written first (`INSERT … ON CONFLICT DO UPDATE` setting the key to itself, in key
   * order so two such transactions cannot deadlock), which takes their row locks and a version of this transaction's
   * own, read without a predicate lock: a concurrent writer of one of them waits for this transaction, then fails
   * (first updater wins), as a reader-then-writer would have. A key without a row gets one with the table's defaults
   * there, which the caller must read as it would no row (issue 17, scripts/README.md "fifth pass").
   */
  rowsForUpdate(table: string, key: string, values: readonly string[]): Promise<Row[]>;
  /** Lease claims (DeliveryRepo.claimDue, JobRepo.claimNext): the rows claimed, as the table has them now. */
  claimDeliveries(now: number, limit: number, leaseMs: number): Promise<Row[]>;
  claimJob(now: number, leaseMs: number): Promise<Row | undefined>;
  /**
   * Appends to the change feed (columns kind, lock_holder_id, vendor_connection_id, payload, created_at) so that seqs
   * become visible in order (ChangeRepo); answers the seqs, ascending.
   */
  appendChanges(rows: RowValues): Promise<number[]>;
}

/**
 * A webhook_deliveries row whose webhook is not paused (docs/webhooks.md "Pause"): its deliveries wait, unclaimed,
 * and become due in their order once it is unpaused.
 */
export const NOT_PAUSED = "webhook_id NOT IN (SELECT id FROM webhooks WHERE paused_at IS NOT NULL)";

/** Rows to insert, each one value per column. */
export type RowValues = readonly (readonly unknown[])[];

/** The rows of `table` whose `column` is one of `values`, in one statement (none for an empty list). */
export async function rowsWhereAnyOf(
  sql: Sql,
  table: string,
  column: string,
  values: readonly string[],
): Promise<Row[]> {
  if (values.length === 0) return [];
  return sql.all(`SELECT * FROM ${table} WHERE ${sql.dialect.anyOf(column)}`, [sql.dialect.list(values)]);
}

/** A column of a batch insert and its PostgreSQL array element type (`unnest` needs it). */
export type Column = readonly [name: string, type: "text" | "bigint"];

/** The SQL that differs between the dialects, as fragments with `?` placeholders. */
export interface Dialect {
  /**
   * `column` is one of a list bound as one value (`list(values)`, at `placeholder`): one statement text whatever the
   * list's length.
   */
  anyOf(column: string, placeholder?: string): string;
  list(values: readonly string[]): unknown;
  /** The larger of two values (SQLite's two-argument MAX, PostgreSQL's GREATEST). */
  readonly greatest: "MAX" | "GREATEST";
  /**
   * The column that orders issuer_keys rows created in the same millisecond by insertion: SQLite's rowid, and on
   * PostgreSQL (which has none) the identity column `n` migration 1 gives it.
   */
  readonly insertionOrder: "rowid" | "n";
}
