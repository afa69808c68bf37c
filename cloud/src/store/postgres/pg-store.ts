import { Client, type ClientConfig, Pool, type PoolClient } from "pg";
import { StoreConflictError } from "../errors.js";
import { repositories } from "../repositories/index.js";
import type { Store, Tx } from "../store.js";
import { ChangeListener } from "./listener.js";
import { migrate } from "./migrations.js";
import { isRetryable, PgSql, pgTypes } from "./sql.js";
import { describeDatabaseUrl } from "./url.js";

export interface PgStoreOptions {
  /** postgres://user[:password]@host[:port]/database[?options=-c search_path=<schema>] */
  url: string;
  /** Connections in the pool (default 10). Each process has its own pool: keep processes × this under max_connections. */
  poolMax?: number;
  /** How often long-polls re-read the feed even without a notification (ms, default 10 s). */
  fallbackPollMs?: number;
  /** Errors outside any request: an idle pooled connection or the LISTEN connection dropped. */
  onError?: (err: unknown, what: string) => void;
}

export const DEFAULT_POOL_MAX = 10;

/** The database could not be reached or migrated; the message names it (never its password) and the cause. */
export class DatabaseOpenError extends Error {}
const MAX_ATTEMPTS = 10;

/**
 * The Store on PostgreSQL, for one or many cloud processes on one database. Each transaction takes a pooled
 * connection and runs at SERIALIZABLE, so concurrent transactions (from this process or another) behave as if they
 * ran one at a time, as on SQLite; when PostgreSQL finds they could not have, it aborts one with a serialization
 * failure, and the transaction runs again from the start (the Store contract keeps `work` free of outside effects).
 */
export class PgStore implements Store {
  private closed = false;
  private listener: ChangeListener | undefined;

  private constructor(
    private readonly pool: Pool,
    private readonly config: ClientConfig,
    readonly schema: string,
    private readonly options: PgStoreOptions,
  ) {}

  /** Connects, creates the schema if needed and migrates it. */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    const config: ClientConfig = {
      connectionString: options.url,
      types: pgTypes,
      application_name: "latchkey-cloud",
      connectionTimeoutMillis: 10_000,
      // A statement or an open transaction that hangs must not hold a pooled connection (and its locks) for ever.
      statement_timeout: 30_000,
      idle_in_transaction_session_timeout: 60_000,
    };
    // Migrations may rightly take longer than a request's statement may.
    const setup = new Client({ ...config, statement_timeout: false });
    let schema: string;
    try {
      await setup.connect();
      schema = await migrate(setup, Date.now());
    } catch (err) {
      const reason = (err as Error).message || (err as { code?: string }).code || String(err);
      throw new DatabaseOpenError(`cannot open PostgreSQL at ${describeDatabaseUrl(options.url)}: ${reason}`, {
        cause: err,
      });
    } finally {
      await setup.end().catch(() => undefined);
    }
    const pool = new Pool({ ...config, max: options.poolMax ?? DEFAULT_POOL_MAX, idleTimeoutMillis: 30_000 });
    // An idle connection that breaks (a database restart) must not crash the process; the pool replaces it.
    pool.on("error", (err) => options.onError?.(err, "idle PostgreSQL connection"));
    return new PgStore(pool, config, schema, options);
  }

  async transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new Error("the store is closed");
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query("BEGIN ISOLATION LEVEL SERIALIZABLE");
        const result = await work(this.txFor(client));
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch((e: Error) => {
          broken = e;
        });
        if (!isRetryable(err)) throw err;
        if (attempt >= MAX_ATTEMPTS) throw new StoreConflictError(attempt, err);
      } finally {
        client.release(broken);
      }
      // Conflicting transactions retrying in lockstep would conflict again: wait a random, growing moment.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 2 ** attempt)));
    }
  }

  private txFor(client: PoolClient): Tx {
    return repositories(new PgSql(client));
  }

  watchChanges(listener: () => void): () => void {
    return this.changeListener().subscribe(listener);
  }

  /**
   * Resolves once this store LISTENs (after a first watchChanges). A cloud need not wait for it, since the fallback
   * poll covers the moment before; tests that count notifications do.
   */
  listening(): Promise<void> {
    return this.changeListener().listening;
  }

  private changeListener(): ChangeListener {
    this.listener ??= new ChangeListener({
      config: this.config,
      schema: this.schema,
      fallbackPollMs: this.options.fallbackPollMs ?? 10_000,
      onError: (err) => this.options.onError?.(err, "PostgreSQL LISTEN connection"),
    });
    return this.listener;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.listener?.close();
    await this.pool.end();
  }
}
