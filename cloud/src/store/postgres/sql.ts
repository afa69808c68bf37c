import { createHash } from "node:crypto";
import { type ClientBase, type CustomTypesConfig, DatabaseError, types } from "pg";
import type { Row } from "../rows.js";

/**
 * Statements on one connection inside one transaction. Every statement is prepared once per connection under a name
 * derived from its text (so the SQL is parsed and planned once, not per call), which is why SQL here never varies in
 * text with its arguments: lists travel as arrays (`= ANY($1::text[])`), not as generated placeholders.
 */
export class Sql {
  /** The change feed's lock and notification are taken once per transaction (see PgChanges.append). */
  changesLocked = false;

  constructor(readonly client: ClientBase) {}

  async all(text: string, values: unknown[] = []): Promise<Row[]> {
    return (await this.client.query({ name: statementName(text), text, values })).rows;
  }

  async one(text: string, values: unknown[] = []): Promise<Row | undefined> {
    return (await this.all(text, values))[0];
  }

  /** Answers the number of rows written. */
  async run(text: string, values: unknown[] = []): Promise<number> {
    return (await this.client.query({ name: statementName(text), text, values })).rowCount ?? 0;
  }
}

const names = new Map<string, string>();

function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `lk_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
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
