/** DATABASE_URL handling: which URLs select PostgreSQL, and how to name one without its password. */

export class DatabaseUrlError extends Error {}

/** Checks that a URL names a PostgreSQL database; the message names `setting` (e.g. DATABASE_URL) and no password. */
export function checkDatabaseUrl(url: string, setting: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseUrlError(`${setting} is not a URL; expected postgres://user@host:5432/database`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new DatabaseUrlError(
      `${setting} must be a postgres:// or postgresql:// URL, not ${parsed.protocol}//…; unset it to use SQLite`,
    );
  }
  if (parsed.hostname === "" && !parsed.searchParams.has("host")) {
    throw new DatabaseUrlError(`${setting} names no host; expected postgres://user@host:5432/database`);
  }
}

/** user@host:port/database, for messages and logs: never the password or the query. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.username ? `${decodeURIComponent(u.username)}@` : ""}${u.host}${u.pathname}`;
  } catch {
    return "(unparsable URL)";
  }
}

/** The same URL with `search_path` set to `schema` (each test or deployment its own schema in one database). */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set("options", `-c search_path=${schema}`);
  return u.toString();
}
