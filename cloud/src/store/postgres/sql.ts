import { createHash } from "node:crypto";
import { type ClientBase, type CustomTypesConfig, DatabaseError, types } from "pg";
import type { Row } from "../rows.js";
import { type Column, type Dialect, NOT_PAUSED, type RowValues, type Sql } from "../sql.js";

export const POSTGRES: Dialect = {
  anyOf: (column, placeholder = "?") => `${column} = ANY(${placeholder}::text[])`,
  list: (values) => values,
  greatest: "GREATEST",
  insertionOrder: "n",
};

/** Per database; the key is hashed with the schema, so deployments (or tests) in other schemas do not wait on it. */
const FEED_LOCK = "latchkey-cloud:changes:";
export const FEED_CHANNEL = "latchkey_changes";

/**
 * The repositories' SQL on one connection inside one transaction. Every statement is prepared once per connection
 * under a name derived from its text (so the SQL is parsed and planned once, not per call), which is why SQL never
 * varies in text with its arguments: lists travel as arrays (`= ANY(?::text[])`), not as generated placeholders.
 * `allPlannedPerCall` is the exception: unnamed, planned with its values each time (Sql.allPlannedPerCall).
 */
export class PgSql implements Sql {
  readonly dialect = POSTGRES;
  /** The change feed's lock and notification are taken once per transaction (see appendChanges). */
  private changesLocked = false;

  constructor(readonly client: ClientBase) {}

  async all(text: string, values: readonly unknown[] = []): Promise<Row[]> {
    return (await this.query(text, values)).rows;
  }

  /** An unnamed statement: PostgreSQL plans it with the values at each call (Sql.allPlannedPerCall). */
  async allPlannedPerCall(text: string, values: readonly unknown[] = []): Promise<Row[]> {
    return (await this.client.query({ text: prepared(text).text, values: [...values] })).rows;
  }

  async get(text: string, values: readonly unknown[] = []): Promise<Row | undefined> {
    return (await this.all(text, values))[0];
  }

  async run(text: string, values: readonly unknown[] = []): Promise<number> {
    return (await this.query(text, values)).rowCount ?? 0;
  }

  private query(text: string, values: readonly unknown[]) {
    return this.client.query({ ...prepared(text), values: [...values] });
  }

  /**
   * One statement for the whole list: a column per array, unnested into rows. WITH ORDINALITY … ORDER BY keeps the
   * given order, so seqs and identities follow it, and of two rows with one key the first is the one stored.
   */
  async insertRows(table: string, columns: readonly Column[], rows: RowValues, tail = ""): Promise<Row[]> {
    if (rows.length === 0) return [];
    const names = columns.map(([name]) => name).join(", ");
    const arrays = columns.map(([, type]) => `?::${type}[]`).join(", ");
    return this.all(
      `INSERT INTO ${table} (${names})
         SELECT ${names} FROM unnest(${arrays}) WITH ORDINALITY AS r(${names}, i) ORDER BY i
         ${tail}`,
      columns.map((_, c) => rows.map((row) => row[c])),
    );
  }

  async insertNew(table: string, columns: readonly Column[], rows: RowValues, key: string): Promise<Set<string>> {
    const stored = await this.insertRows(table, columns, rows, `ON CONFLICT (${key}) DO NOTHING RETURNING ${key}`);
    return new Set(stored.map((r) => r[key] as string));
  }

  /**
   * Written before read (Sql.rowsForUpdate): the rows come back from the upsert's RETURNING, this transaction's own
   * versions, which SERIALIZABLE reads without a predicate lock; a row another transaction committed after this one's
   * snapshot fails it here (40001, retried) rather than being overwritten.
   */
  async rowsForUpdate(table: string, key: string, values: readonly string[]): Promise<Row[]> {
    if (values.length === 0) return [];
    const sorted = [...new Set(values)].sort();
    return this.insertRows(
      table,
      [[key, "text"]],
      sorted.map((v) => [v]),
      `ON CONFLICT (${key}) DO UPDATE SET ${key} = excluded.${key} RETURNING *`,
    );
  }

  /**
   * FOR UPDATE SKIP LOCKED: a worker in another process claiming at the same moment passes over the rows this one is
   * taking instead of waiting for them, and the lease (claimed_until) keeps them out of reach after commit.
   */
  async claimDeliveries(now: number, limit: number, leaseMs: number): Promise<Row[]> {
    return this.all(
      `UPDATE webhook_deliveries d SET claimed_until = ?
         FROM (SELECT id FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
                   AND ${NOT_PAUSED}
                 ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED) due
         WHERE d.id = due.id
         RETURNING d.*`,
      [now + leaseMs, now, now, limit],
    );
  }

  /** FOR UPDATE SKIP LOCKED, as claimDeliveries: two processes claiming at once take two different jobs. */
  async claimJob(now: number, leaseMs: number): Promise<Row | undefined> {
    return this.get(
      `UPDATE jobs j SET status = 'running', claimed_until = ?, updated_at = ?
         FROM (SELECT id FROM jobs
                 WHERE status = 'pending' OR (status = 'running' AND (claimed_until IS NULL OR claimed_until <= ?))
                 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) next
         WHERE j.id = next.id
         RETURNING j.*`,
      [now + leaseMs, now, now],
    );
  }

  /**
   * Identity values are handed out at insert, not at commit: two transactions appending at once could commit seq 11
   * before seq 10, and a bridge that read 11 would resume past 10 for ever. So appending takes a transaction-scoped
   * advisory lock first, held until commit: appenders queue, and seqs become visible in order. The same statement
   * queues a NOTIFY, which PostgreSQL delivers only if and when the transaction commits (listener.ts hears it).
   */
  async appendChanges(rows: RowValues): Promise<number[]> {
    if (rows.length === 0) return [];
    if (!this.changesLocked) {
      await this.get(
        "SELECT pg_advisory_xact_lock(hashtext(?::text || current_schema())), pg_notify(?::text, current_schema()::text)",
        [FEED_LOCK, FEED_CHANNEL],
      );
      this.changesLocked = true;
    }
    const inserted = await this.insertRows("changes", CHANGE_COLUMNS, rows, "RETURNING seq");
    return inserted.map((r: Row) => r.seq as number).sort((a, b) => a - b);
  }
}

const CHANGE_COLUMNS: readonly Column[] = [
  ["kind", "text"],
  ["lock_holder_id", "text"],
  ["vendor_connection_id", "text"],
  ["payload", "text"],
  ["created_at", "bigint"],
];

const statements = new Map<string, { name: string; text: string }>();

/** The statement's PostgreSQL text (`?` numbered `$1`, `$2`, …) and the name it is prepared under. */
function prepared(text: string): { name: string; text: string } {
  let statement = statements.get(text);
  if (!statement) {
    let n = 0;
    const numbered = text.replace(/\?/g, () => `$${++n}`);
    statement = { name: `lk_${createHash("sha256").update(numbered).digest("hex").slice(0, 24)}`, text: numbered };
    statements.set(text, statement);
  }
  return statement;
}

const INT8_OID = 20;

/** BIGINT columns (milliseconds, seqs, counts) as numbers, like SQLite gives them; refuses to lose precision. */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`a BIGINT value ${value} is beyond JavaScript's safe integers`);
  return n;
}

export const pgTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID && format !== "binary"
      ? parseInt8
      : types.getTypeParser(oid, format ?? "text")) as CustomTypesConfig["getTypeParser"],
};

/**
 * Conflicts PostgreSQL resolves by aborting one transaction, which may simply run again: serialization failures
 * (SERIALIZABLE found no serial order) and deadlocks.
 */
export function isRetryable(err: unknown): boolean {
  return err instanceof DatabaseError && (err.code === "40001" || err.code === "40P01");
}
