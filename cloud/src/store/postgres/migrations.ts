import { type ClientBase, escapeIdentifier } from "pg";

/**
 * The PostgreSQL schema: the same versions, tables and columns as sqlite/migrations.ts in PostgreSQL's dialect
 * (test/postgres checks that both schemas match). Never edit a released migration; append a new one to both files.
 * Differences, each for a reason:
 * - times and counters are BIGINT (milliseconds overflow INTEGER), read back as numbers (sql.ts);
 * - autoincrement keys are identity columns;
 * - issuer_keys has `n`, an identity column standing in for SQLite's rowid (keys created in the same millisecond keep
 *   their creation order);
 * - every TEXT column is COLLATE "C", so text compares byte by byte like SQLite's BINARY whatever the database's
 *   locale: ids page with `id > $1` and locks sort by name the same on both drivers.
 */
const V1 = `
  CREATE TABLE integrators (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL);
  CREATE TABLE clients (
    client_id TEXT PRIMARY KEY, integrator_id TEXT NOT NULL REFERENCES integrators(id),
    secret_hash TEXT NOT NULL, created_at BIGINT NOT NULL);
  CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, subject_id TEXT NOT NULL, integrator_id TEXT,
    lock_holder_id TEXT, scope TEXT NOT NULL, expires_at BIGINT NOT NULL);
  CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
  CREATE INDEX access_tokens_subject ON access_tokens(kind, subject_id);
  CREATE TABLE lock_holders (
    id TEXT PRIMARY KEY, integrator_id TEXT NOT NULL REFERENCES integrators(id), name TEXT NOT NULL,
    country_iso TEXT, organization_id TEXT, organization_id_suffix TEXT, created_at BIGINT NOT NULL);
  CREATE INDEX lock_holders_integrator ON lock_holders(integrator_id, id);
  CREATE TABLE issuer_keys (
    n BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    kid TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), public_key TEXT NOT NULL,
    secret_sealed TEXT NOT NULL, created_at BIGINT NOT NULL, rotated_at BIGINT,
    max_token_exp_s BIGINT NOT NULL DEFAULT 0, retired_at BIGINT);
  CREATE INDEX issuer_keys_lock_holder ON issuer_keys(lock_holder_id, created_at);
  CREATE TABLE bridges (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), name TEXT,
    secret_hash TEXT NOT NULL, created_at BIGINT NOT NULL, last_seen_at BIGINT, version TEXT, locks_online BIGINT);
  CREATE INDEX bridges_lock_holder ON bridges(lock_holder_id, id);
  CREATE TABLE vendor_connections (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), vendor TEXT NOT NULL,
    username TEXT, credential_salt TEXT, credential_digest TEXT, bridge_id TEXT REFERENCES bridges(id),
    state TEXT NOT NULL, reason TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, deleted_at BIGINT);
  CREATE INDEX vendor_connections_lock_holder ON vendor_connections(lock_holder_id, id);
  CREATE INDEX vendor_connections_bridge ON vendor_connections(bridge_id);
  CREATE INDEX vendor_connections_username ON vendor_connections(vendor, username);
  CREATE TABLE locks (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id),
    vendor_connection_id TEXT NOT NULL REFERENCES vendor_connections(id), vendor TEXT NOT NULL, name TEXT NOT NULL,
    image_url TEXT, address TEXT, timezone TEXT, created_at BIGINT NOT NULL, removed_at BIGINT,
    battery_level BIGINT, battery_mv BIGINT, battery_state TEXT, battery_ts_s BIGINT, battery_updated_at BIGINT,
    online INTEGER NOT NULL DEFAULT 0, presence_ts_s BIGINT, event_seq BIGINT NOT NULL DEFAULT 0);
  CREATE INDEX locks_lock_holder_name ON locks(lock_holder_id, name, id);
  CREATE INDEX locks_lock_holder_created ON locks(lock_holder_id, created_at, id);
  CREATE INDEX locks_connection ON locks(vendor_connection_id);
  CREATE TABLE keys (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), lock_id TEXT NOT NULL,
    cti TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, start_at BIGINT NOT NULL, end_at BIGINT,
    status TEXT NOT NULL, error TEXT, revoked_at BIGINT, metadata TEXT, job_id TEXT, created_at BIGINT NOT NULL);
  CREATE INDEX keys_lock_holder ON keys(lock_holder_id, id);
  CREATE INDEX keys_user ON keys(user_id);
  CREATE INDEX keys_lock ON keys(lock_id);
  CREATE TABLE events (
    n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE, lock_holder_id TEXT NOT NULL,
    lock_id TEXT NOT NULL, seq BIGINT NOT NULL, ts_s BIGINT NOT NULL, type TEXT NOT NULL, cti TEXT, key_id TEXT,
    user_id TEXT, code TEXT, dropped BIGINT, v BIGINT, received_at BIGINT NOT NULL);
  CREATE INDEX events_lock_holder_ts ON events(lock_holder_id, ts_s, n);
  CREATE TABLE telemetry (
    id TEXT PRIMARY KEY, lock_id TEXT NOT NULL, ts_s BIGINT NOT NULL, level BIGINT NOT NULL, mv BIGINT NOT NULL,
    state TEXT NOT NULL, v BIGINT, dropped BIGINT, received_at BIGINT NOT NULL);
  CREATE INDEX telemetry_lock ON telemetry(lock_id, ts_s);
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), url TEXT NOT NULL,
    secret_sealed TEXT NOT NULL, created_at BIGINT NOT NULL, deleted_at BIGINT);
  CREATE INDEX webhooks_lock_holder ON webhooks(lock_holder_id, id);
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL REFERENCES webhooks(id), event_type TEXT NOT NULL,
    payload TEXT NOT NULL, status TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT, last_error TEXT, created_at BIGINT NOT NULL, delivered_at BIGINT);
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
  CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, id);
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY, integrator_id TEXT NOT NULL, lock_holder_id TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT NOT NULL, total BIGINT NOT NULL, done BIGINT NOT NULL, key_ids TEXT NOT NULL, results TEXT NOT NULL,
    claimed_until BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
  CREATE INDEX jobs_status ON jobs(status, id);
  CREATE TABLE changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind TEXT NOT NULL, lock_holder_id TEXT NOT NULL,
    vendor_connection_id TEXT, payload TEXT NOT NULL, created_at BIGINT NOT NULL);
  CREATE INDEX changes_connection ON changes(vendor_connection_id, seq);
  CREATE INDEX changes_lock_holder_kind ON changes(lock_holder_id, kind, seq);
  CREATE TABLE verifications (
    id TEXT PRIMARY KEY, phone_number TEXT NOT NULL, code_hash TEXT NOT NULL, created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, status TEXT NOT NULL);
  CREATE INDEX verifications_phone ON verifications(phone_number, created_at);
  CREATE TABLE devices (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, public_key TEXT NOT NULL, name TEXT, created_at BIGINT NOT NULL,
    deleted_at BIGINT);
`;

const V2 = `
  CREATE TABLE cloud_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE virtual_lock_nonces (
    n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, nonce TEXT NOT NULL UNIQUE, lock_id TEXT NOT NULL, issued_at BIGINT NOT NULL);
  CREATE INDEX virtual_lock_nonces_lock ON virtual_lock_nonces(lock_id, n);
`;

const V3 = `
  ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
  ALTER TABLE clients ADD COLUMN previous_secret_expires_at BIGINT;
  ALTER TABLE bridges ADD COLUMN previous_secret_hash TEXT;
  ALTER TABLE bridges ADD COLUMN previous_secret_expires_at BIGINT;
  ALTER TABLE access_tokens ADD COLUMN issued_under TEXT;
  CREATE INDEX access_tokens_issued_under ON access_tokens(issued_under);
`;

// The latest exp of any token minted for a key, so a revocation outlives every token of the key (review 12.1).
// NULL: none recorded (keys minted before this column, or never minted).
const V4 = `
  ALTER TABLE keys ADD COLUMN max_token_exp_s BIGINT;
`;

// One-time-code limits per client address and growing lockouts per phone number (issue 12, finding 4).
const V5 = `
  CREATE TABLE otp_events (
    n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, at BIGINT NOT NULL);
  CREATE INDEX otp_events_subject ON otp_events(subject, kind, at);
  CREATE INDEX otp_events_at ON otp_events(at);
  CREATE TABLE otp_lockouts (subject TEXT PRIMARY KEY, strikes BIGINT NOT NULL, locked_until BIGINT NOT NULL);
`;

// End-to-end trust, the cloud side (issue 13, docs/trust.md "Cloud"): each lock holder's authorities, and each
// claimed lock's sealed claim secret, fingerprint, reported keys and latest signed state.
const V6 = `
  CREATE TABLE authorities (
    public_key TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL, hand_over TEXT, superseded_at BIGINT);
  CREATE INDEX authorities_lock_holder ON authorities(lock_holder_id, created_at);
  CREATE TABLE lock_claims (
    lock_id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), name TEXT,
    claim_secret_sealed TEXT NOT NULL, fingerprint TEXT, claimed_at BIGINT NOT NULL, identity_key TEXT,
    agreement_key TEXT, reported_authority TEXT, max_stale_s BIGINT, min_iat BIGINT, last_v BIGINT NOT NULL DEFAULT 0,
    state_doc TEXT, state_v BIGINT, state_iat BIGINT, state_digest TEXT);
  CREATE INDEX lock_claims_lock_holder ON lock_claims(lock_holder_id, lock_id);
`;

// Lock-authenticated reports (issue 13, docs/reports.md "Cloud"): per claimed lock, the highest report counter
// accepted and the
// counters skipped below it, the ack (highest contiguous event seq stored from verified reports: the only source of the signed state's
// ack), the event seqs stored above it, and the refusals counted per verdict.
const V7 = `
  CREATE TABLE lock_reports (
    lock_id TEXT PRIMARY KEY, highest_counter BIGINT, counter_from BIGINT, counter_gaps TEXT NOT NULL DEFAULT '[]',
    ack_seq BIGINT NOT NULL DEFAULT 0, pending_seqs TEXT NOT NULL DEFAULT '[]', refused TEXT NOT NULL DEFAULT '{}');
`;

// Remote actions (issue 13, docs/bridge-api.md "Remote actions"): each integrator unlock or lock, the signed command a
// bridge carried for it and how it ended; and each lock's command counter (strictly increasing). And which authority
// signed each claimed lock's cached state, from which v, so its `state_applied` report says what it pinned.
const V8 = `
  CREATE TABLE remote_actions (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), lock_id TEXT NOT NULL,
    action TEXT NOT NULL, status TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
    completed_at BIGINT, event_id TEXT, error_code TEXT, error_message TEXT, nonce TEXT, counter BIGINT,
    command TEXT, binding TEXT);
  CREATE INDEX remote_actions_lock ON remote_actions(lock_id, id);
  CREATE INDEX remote_actions_binding ON remote_actions(lock_id, binding);
  CREATE INDEX remote_actions_open ON remote_actions(status, expires_at);
  CREATE TABLE lock_command_counters (lock_id TEXT PRIMARY KEY, counter BIGINT NOT NULL);
  ALTER TABLE lock_claims ADD COLUMN state_authority TEXT;
  ALTER TABLE lock_claims ADD COLUMN authority_from_v BIGINT;
`;

// The Integrator API as integrators use it (issue 14): a key holder's name, and indexes for filtered pages of keys and
// events; keys(lock_id, id) supersedes keys(lock_id).
const V9 = `
  ALTER TABLE keys ADD COLUMN user_name TEXT;
  DROP INDEX keys_lock;
  CREATE INDEX keys_lock_page ON keys(lock_id, id);
  CREATE INDEX keys_user_page ON keys(lock_holder_id, user_id, id);
  CREATE INDEX keys_status_page ON keys(lock_holder_id, status, id);
  CREATE INDEX events_lock_ts ON events(lock_id, ts_s, n);
  CREATE INDEX events_key_ts ON events(key_id, ts_s, n);
  CREATE INDEX events_user_ts ON events(lock_holder_id, user_id, ts_s, n);
  CREATE INDEX events_type_ts ON events(lock_holder_id, type, ts_s, n);
`;

// A claim is pending until the lock proves it (docs/design.md section 7 "Identity and claim", docs/trust.md "Cloud"):
// one claim per lock holder and lock id (several holders may hold a pending claim of one id), when the lock's
// authenticated `state_applied` report confirmed it, and the v signed for it while pending. A claim whose lock already
// reported the authority it pinned is confirmed (at its claim time, the best time known); the others are pending,
// their latest state's v kept.
const V10 = `
  ALTER TABLE lock_claims DROP CONSTRAINT lock_claims_pkey;
  ALTER TABLE lock_claims ADD PRIMARY KEY (lock_id, lock_holder_id);
  ALTER TABLE lock_claims ADD COLUMN confirmed_at BIGINT;
  ALTER TABLE lock_claims ADD COLUMN signed_vs TEXT NOT NULL DEFAULT '[]';
  UPDATE lock_claims SET confirmed_at = claimed_at WHERE reported_authority IS NOT NULL;
  UPDATE lock_claims SET signed_vs = '[' || state_v || ']' WHERE reported_authority IS NULL AND state_v IS NOT NULL;
`;

const binaryText = (sql: string) => sql.replace(/\bTEXT\b/g, 'TEXT COLLATE "C"');

export const PG_MIGRATIONS: readonly string[] = [V1, V2, V3, V4, V5, V6, V7, V8, V9, V10].map(binaryText);

/** Serializes schema creation and migration across processes starting at once (per database). */
const MIGRATE_LOCK = "latchkey-cloud:migrate";

/**
 * Brings the schema the connection's search_path names up to date, under an advisory lock so two cloud processes
 * starting together migrate once. Creates that schema if it does not exist yet (`?options=-c search_path=…` in the
 * URL gives each deployment or test its own). Answers the schema's name.
 */
export async function migrate(client: ClientBase, now: number): Promise<string> {
  await client.query("SELECT pg_advisory_lock(hashtext($1))", [MIGRATE_LOCK]);
  try {
    const schema = await ensureSchema(client);
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
    );
    const { rows } = await client.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations");
    const current = Number(rows[0].v);
    if (current > PG_MIGRATIONS.length) {
      throw new Error(
        `the database is at schema version ${current}, newer than this cloud knows (${PG_MIGRATIONS.length}): upgrade latchkey-cloud`,
      );
    }
    for (let version = current; version < PG_MIGRATIONS.length; version++) {
      await client.query("BEGIN");
      try {
        await client.query(PG_MIGRATIONS[version]!);
        await client.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [version + 1, now]);
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK");
        throw e;
      }
    }
    return schema;
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext($1))", [MIGRATE_LOCK]);
  }
}

async function ensureSchema(client: ClientBase): Promise<string> {
  const current = (await client.query("SELECT current_schema() AS s")).rows[0].s as string | null;
  if (current !== null) return current;
  const path = (await client.query("SELECT current_setting('search_path') AS p")).rows[0].p as string;
  const first = path
    .split(",")
    .map((s) => s.trim().replace(/^"(.*)"$/, "$1"))
    .find((s) => s !== "" && s !== "$user");
  if (!first) throw new Error(`search_path ${JSON.stringify(path)} names no schema to create the tables in`);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${escapeIdentifier(first)}`);
  return first;
}
