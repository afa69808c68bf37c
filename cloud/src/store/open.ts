import { PgStore } from "./postgres/pg-store.js";
import { checkDatabaseUrl } from "./postgres/url.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import type { Store } from "./store.js";

export interface StoreOptions {
  /** SQLite lives here when no database URL is given. */
  dataDir: string;
  /** PostgreSQL instead of SQLite. */
  databaseUrl?: string | undefined;
  /** PostgreSQL pool size per process (default 10). */
  databasePoolMax?: number | undefined;
  /** PostgreSQL: how often long-polls re-read the feed without a notification (ms, default 10 s). */
  changeFeedFallbackPollMs?: number | undefined;
  /** Errors outside any request (a dropped idle or LISTEN connection). */
  onError?: (err: unknown, what: string) => void;
}

/** The store the options select: PostgreSQL when a database URL is given, else SQLite under the data directory. */
export async function openStore(options: StoreOptions): Promise<Store> {
  if (options.databaseUrl === undefined || options.databaseUrl === "") return new SqliteStore(options.dataDir);
  checkDatabaseUrl(options.databaseUrl, "databaseUrl (DATABASE_URL)");
  if (
    options.databasePoolMax !== undefined &&
    !(Number.isInteger(options.databasePoolMax) && options.databasePoolMax >= 1)
  ) {
    throw new Error(`databasePoolMax must be a whole number of at least 1, not ${options.databasePoolMax}`);
  }
  return PgStore.open({
    url: options.databaseUrl,
    ...(options.databasePoolMax !== undefined ? { poolMax: options.databasePoolMax } : {}),
    ...(options.changeFeedFallbackPollMs !== undefined ? { fallbackPollMs: options.changeFeedFallbackPollMs } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });
}
