/**
 * The schema's migrations, written once for both dialects: migration i brings the database from version i to i + 1
 * (SQLite's PRAGMA user_version, PostgreSQL's schema_migrations table). Never edit a released migration (deployments
 * have applied it, and test/migrations.test.ts pins each one's text); append a new one. Times are integer
 * milliseconds; `…_s` columns are unix seconds from locks. What the dialects write differently, each for a reason:
 * - times and counters are BIGINT on PostgreSQL (milliseconds overflow INTEGER), read back as numbers
 *   (postgres/sql.ts); SQLite's INTEGER holds 64 bits already;
 * - autoincrement keys are identity columns on PostgreSQL;
 * - PostgreSQL's issuer_keys has `n`, an identity column standing in for SQLite's rowid (keys created in the same
 *   millisecond keep their creation order);
 * - every TEXT column is COLLATE "C" on PostgreSQL, so text compares byte by byte like SQLite's BINARY whatever the
 *   database's locale: ids page with `id > ?` and locks sort by name the same on both drivers.
 */
export interface DdlTypes {
  readonly dialect: "sqlite" | "postgres";
  /** Times, counters and other integers that may outgrow 32 bits. */
  readonly int: "INTEGER" | "BIGINT";
  /** An autoincrementing primary key. */
  readonly serial: "INTEGER PRIMARY KEY AUTOINCREMENT" | "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
  /** issuer_keys' insertion order column, with its comma, where the dialect has no rowid. */
  readonly issuerKeyOrder: "" | "n BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,\n    ";
  /** What follows every TEXT type: the collation that compares byte by byte where it is not the default. */
  readonly textCollation: "" | ' COLLATE "C"';
}

const MIGRATIONS: readonly ((t: DdlTypes) => string)[] = [
  (t) => `
  CREATE TABLE integrators (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at ${t.int} NOT NULL);
  CREATE TABLE clients (
    client_id TEXT PRIMARY KEY, integrator_id TEXT NOT NULL REFERENCES integrators(id),
    secret_hash TEXT NOT NULL, created_at ${t.int} NOT NULL);
  CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, subject_id TEXT NOT NULL, integrator_id TEXT,
    lock_holder_id TEXT, scope TEXT NOT NULL, expires_at ${t.int} NOT NULL);
  CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
  CREATE INDEX access_tokens_subject ON access_tokens(kind, subject_id);
  CREATE TABLE lock_holders (
    id TEXT PRIMARY KEY, integrator_id TEXT NOT NULL REFERENCES integrators(id), name TEXT NOT NULL,
    country_iso TEXT, organization_id TEXT, organization_id_suffix TEXT, created_at ${t.int} NOT NULL);
  CREATE INDEX lock_holders_integrator ON lock_holders(integrator_id, id);
  CREATE TABLE issuer_keys (
    ${t.issuerKeyOrder}kid TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), public_key TEXT NOT NULL,
    secret_sealed TEXT NOT NULL, created_at ${t.int} NOT NULL, rotated_at ${t.int},
    max_token_exp_s ${t.int} NOT NULL DEFAULT 0, retired_at ${t.int});
  CREATE INDEX issuer_keys_lock_holder ON issuer_keys(lock_holder_id, created_at);
  CREATE TABLE bridges (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), name TEXT,
    secret_hash TEXT NOT NULL, created_at ${t.int} NOT NULL, last_seen_at ${t.int}, version TEXT, locks_online ${t.int});
  CREATE INDEX bridges_lock_holder ON bridges(lock_holder_id, id);
  CREATE TABLE vendor_connections (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), vendor TEXT NOT NULL,
    username TEXT, credential_salt TEXT, credential_digest TEXT, bridge_id TEXT REFERENCES bridges(id),
    state TEXT NOT NULL, reason TEXT, created_at ${t.int} NOT NULL, updated_at ${t.int} NOT NULL, deleted_at ${t.int});
  CREATE INDEX vendor_connections_lock_holder ON vendor_connections(lock_holder_id, id);
  CREATE INDEX vendor_connections_bridge ON vendor_connections(bridge_id);
  CREATE INDEX vendor_connections_username ON vendor_connections(vendor, username);
  CREATE TABLE locks (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id),
    vendor_connection_id TEXT NOT NULL REFERENCES vendor_connections(id), vendor TEXT NOT NULL, name TEXT NOT NULL,
    image_url TEXT, address TEXT, timezone TEXT, created_at ${t.int} NOT NULL, removed_at ${t.int},
    battery_level ${t.int}, battery_mv ${t.int}, battery_state TEXT, battery_ts_s ${t.int}, battery_updated_at ${t.int},
    online INTEGER NOT NULL DEFAULT 0, presence_ts_s ${t.int}, event_seq ${t.int} NOT NULL DEFAULT 0);
  CREATE INDEX locks_lock_holder_name ON locks(lock_holder_id, name, id);
  CREATE INDEX locks_lock_holder_created ON locks(lock_holder_id, created_at, id);
  CREATE INDEX locks_connection ON locks(vendor_connection_id);
  CREATE TABLE keys (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), lock_id TEXT NOT NULL,
    cti TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, start_at ${t.int} NOT NULL, end_at ${t.int},
    status TEXT NOT NULL, error TEXT, revoked_at ${t.int}, metadata TEXT, job_id TEXT, created_at ${t.int} NOT NULL);
  CREATE INDEX keys_lock_holder ON keys(lock_holder_id, id);
  CREATE INDEX keys_user ON keys(user_id);
  CREATE INDEX keys_lock ON keys(lock_id);
  CREATE TABLE events (
    n ${t.serial}, id TEXT NOT NULL UNIQUE, lock_holder_id TEXT NOT NULL, lock_id TEXT NOT NULL,
    seq ${t.int} NOT NULL, ts_s ${t.int} NOT NULL, type TEXT NOT NULL, cti TEXT, key_id TEXT, user_id TEXT, code TEXT,
    dropped ${t.int}, v ${t.int}, received_at ${t.int} NOT NULL);
  CREATE INDEX events_lock_holder_ts ON events(lock_holder_id, ts_s, n);
  CREATE TABLE telemetry (
    id TEXT PRIMARY KEY, lock_id TEXT NOT NULL, ts_s ${t.int} NOT NULL, level ${t.int} NOT NULL, mv ${t.int} NOT NULL,
    state TEXT NOT NULL, v ${t.int}, dropped ${t.int}, received_at ${t.int} NOT NULL);
  CREATE INDEX telemetry_lock ON telemetry(lock_id, ts_s);
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), url TEXT NOT NULL,
    secret_sealed TEXT NOT NULL, created_at ${t.int} NOT NULL, deleted_at ${t.int});
  CREATE INDEX webhooks_lock_holder ON webhooks(lock_holder_id, id);
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL REFERENCES webhooks(id), event_type TEXT NOT NULL,
    payload TEXT NOT NULL, status TEXT NOT NULL, attempts ${t.int} NOT NULL DEFAULT 0, next_attempt_at ${t.int} NOT NULL,
    claimed_until ${t.int}, last_error TEXT, created_at ${t.int} NOT NULL, delivered_at ${t.int});
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
  CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, id);
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY, integrator_id TEXT NOT NULL, lock_holder_id TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT NOT NULL, total ${t.int} NOT NULL, done ${t.int} NOT NULL, key_ids TEXT NOT NULL, results TEXT NOT NULL,
    claimed_until ${t.int}, created_at ${t.int} NOT NULL, updated_at ${t.int} NOT NULL);
  CREATE INDEX jobs_status ON jobs(status, id);
  CREATE TABLE changes (
    seq ${t.serial}, kind TEXT NOT NULL, lock_holder_id TEXT NOT NULL,
    vendor_connection_id TEXT, payload TEXT NOT NULL, created_at ${t.int} NOT NULL);
  CREATE INDEX changes_connection ON changes(vendor_connection_id, seq);
  CREATE INDEX changes_lock_holder_kind ON changes(lock_holder_id, kind, seq);
  CREATE TABLE verifications (
    id TEXT PRIMARY KEY, phone_number TEXT NOT NULL, code_hash TEXT NOT NULL, created_at ${t.int} NOT NULL,
    expires_at ${t.int} NOT NULL, attempts ${t.int} NOT NULL DEFAULT 0, status TEXT NOT NULL);
  CREATE INDEX verifications_phone ON verifications(phone_number, created_at);
  CREATE TABLE devices (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, public_key TEXT NOT NULL, name TEXT, created_at ${t.int} NOT NULL,
    deleted_at ${t.int});
  `,
  // 2: facts about the database itself (a value sealed with the master key that every process must open), and
  // virtual locks' unlock nonces, which were held in one process's memory.
  (t) => `
  CREATE TABLE cloud_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE virtual_lock_nonces (
    n ${t.serial}, nonce TEXT NOT NULL UNIQUE, lock_id TEXT NOT NULL, issued_at ${t.int} NOT NULL);
  CREATE INDEX virtual_lock_nonces_lock ON virtual_lock_nonces(lock_id, n);
  `,
  // 3: secret rotation (review 12.7): the secret before the current one, until its overlap ends, and which secret
  // each access token was issued under, so revoking a secret ends its tokens too.
  (t) => `
  ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
  ALTER TABLE clients ADD COLUMN previous_secret_expires_at ${t.int};
  ALTER TABLE bridges ADD COLUMN previous_secret_hash TEXT;
  ALTER TABLE bridges ADD COLUMN previous_secret_expires_at ${t.int};
  ALTER TABLE access_tokens ADD COLUMN issued_under TEXT;
  CREATE INDEX access_tokens_issued_under ON access_tokens(issued_under);
  `,
  // 4: the latest exp of any token minted for a key, so a revocation outlives every token of the key (review 12.1).
  // NULL: none recorded (keys minted before this column, or never minted).
  (t) => `
  ALTER TABLE keys ADD COLUMN max_token_exp_s ${t.int};
  `,
  // 5: one-time-code limits per client address and growing lockouts per phone number (issue 12, finding 4).
  (t) => `
  CREATE TABLE otp_events (
    n ${t.serial}, subject TEXT NOT NULL, kind TEXT NOT NULL, at ${t.int} NOT NULL);
  CREATE INDEX otp_events_subject ON otp_events(subject, kind, at);
  CREATE INDEX otp_events_at ON otp_events(at);
  CREATE TABLE otp_lockouts (subject TEXT PRIMARY KEY, strikes ${t.int} NOT NULL, locked_until ${t.int} NOT NULL);
  `,
  // 6: end-to-end trust, the cloud side (issue 13, docs/trust.md "Cloud"): each lock holder's authorities, and each
  // claimed lock's sealed claim secret, fingerprint, reported keys and latest signed state.
  (t) => `
  CREATE TABLE authorities (
    public_key TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), secret_sealed TEXT NOT NULL,
    created_at ${t.int} NOT NULL, hand_over TEXT, superseded_at ${t.int});
  CREATE INDEX authorities_lock_holder ON authorities(lock_holder_id, created_at);
  CREATE TABLE lock_claims (
    lock_id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), name TEXT,
    claim_secret_sealed TEXT NOT NULL, fingerprint TEXT, claimed_at ${t.int} NOT NULL, identity_key TEXT,
    agreement_key TEXT, reported_authority TEXT, max_stale_s ${t.int}, min_iat ${t.int}, last_v ${t.int} NOT NULL DEFAULT 0,
    state_doc TEXT, state_v ${t.int}, state_iat ${t.int}, state_digest TEXT);
  CREATE INDEX lock_claims_lock_holder ON lock_claims(lock_holder_id, lock_id);
  `,
  // 7: lock-authenticated reports (issue 13, docs/reports.md "Cloud"): per claimed lock, the highest report counter
  // accepted and the counters skipped below it, the ack (highest contiguous event seq stored from verified reports:
  // the only source of the signed state's ack), the event seqs stored above it, and the refusals counted per verdict.
  (t) => `
  CREATE TABLE lock_reports (
    lock_id TEXT PRIMARY KEY, highest_counter ${t.int}, counter_from ${t.int}, counter_gaps TEXT NOT NULL DEFAULT '[]',
    ack_seq ${t.int} NOT NULL DEFAULT 0, pending_seqs TEXT NOT NULL DEFAULT '[]', refused TEXT NOT NULL DEFAULT '{}');
  `,
  // 8: remote actions (issue 13, docs/bridge-api.md "Remote actions"): each integrator unlock or lock, the signed
  // command a bridge carried for it and how it ended; and each lock's command counter (strictly increasing). And which
  // authority signed each claimed lock's cached state, from which v, so its `state_applied` report says what it pinned.
  (t) => `
  CREATE TABLE remote_actions (
    id TEXT PRIMARY KEY, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), lock_id TEXT NOT NULL,
    action TEXT NOT NULL, status TEXT NOT NULL, created_at ${t.int} NOT NULL, expires_at ${t.int} NOT NULL,
    completed_at ${t.int}, event_id TEXT, error_code TEXT, error_message TEXT, nonce TEXT, counter ${t.int},
    command TEXT, binding TEXT);
  CREATE INDEX remote_actions_lock ON remote_actions(lock_id, id);
  CREATE INDEX remote_actions_binding ON remote_actions(lock_id, binding);
  CREATE INDEX remote_actions_open ON remote_actions(status, expires_at);
  CREATE TABLE lock_command_counters (lock_id TEXT PRIMARY KEY, counter ${t.int} NOT NULL);
  ALTER TABLE lock_claims ADD COLUMN state_authority TEXT;
  ALTER TABLE lock_claims ADD COLUMN authority_from_v ${t.int};
  `,
  // 9: the Integrator API as integrators use it (issue 14): a key holder's name (Unloc's toUser name, shown on events),
  // and indexes so a filtered page of keys (by lock, user, state) or of events (by lock, key, user, action) reads its
  // rows in page order instead of scanning the lock holder's. keys(lock_id, id) supersedes keys(lock_id).
  () => `
  ALTER TABLE keys ADD COLUMN user_name TEXT;
  DROP INDEX keys_lock;
  CREATE INDEX keys_lock_page ON keys(lock_id, id);
  CREATE INDEX keys_user_page ON keys(lock_holder_id, user_id, id);
  CREATE INDEX keys_status_page ON keys(lock_holder_id, status, id);
  CREATE INDEX events_lock_ts ON events(lock_id, ts_s, n);
  CREATE INDEX events_key_ts ON events(key_id, ts_s, n);
  CREATE INDEX events_user_ts ON events(lock_holder_id, user_id, ts_s, n);
  CREATE INDEX events_type_ts ON events(lock_holder_id, type, ts_s, n);
  `,
  // 10: a claim is pending until the lock proves it (docs/design.md section 7 "Identity and claim", docs/trust.md
  // "Cloud"): one claim per lock holder and lock id (several holders may hold a pending claim of one id), when the
  // lock's authenticated `state_applied` report confirmed it, and the v signed for it while pending. SQLite cannot
  // change a primary key in place, so there the table is rebuilt. A claim whose lock already reported the authority it
  // pinned is confirmed (at its claim time, the best time known); the others are pending, their latest state's v kept.
  (t) =>
    t.dialect === "postgres"
      ? `
  ALTER TABLE lock_claims DROP CONSTRAINT lock_claims_pkey;
  ALTER TABLE lock_claims ADD PRIMARY KEY (lock_id, lock_holder_id);
  ALTER TABLE lock_claims ADD COLUMN confirmed_at BIGINT;
  ALTER TABLE lock_claims ADD COLUMN signed_vs TEXT NOT NULL DEFAULT '[]';
  UPDATE lock_claims SET confirmed_at = claimed_at WHERE reported_authority IS NOT NULL;
  UPDATE lock_claims SET signed_vs = '[' || state_v || ']' WHERE reported_authority IS NULL AND state_v IS NOT NULL;
`
      : `
  CREATE TABLE lock_claims_v10 (
    lock_id TEXT NOT NULL, lock_holder_id TEXT NOT NULL REFERENCES lock_holders(id), name TEXT,
    claim_secret_sealed TEXT NOT NULL, fingerprint TEXT, claimed_at INTEGER NOT NULL, identity_key TEXT,
    agreement_key TEXT, reported_authority TEXT, max_stale_s INTEGER, min_iat INTEGER, last_v INTEGER NOT NULL DEFAULT 0,
    state_doc TEXT, state_v INTEGER, state_iat INTEGER, state_digest TEXT, state_authority TEXT,
    authority_from_v INTEGER, confirmed_at INTEGER, signed_vs TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (lock_id, lock_holder_id));
  INSERT INTO lock_claims_v10 (lock_id, lock_holder_id, name, claim_secret_sealed, fingerprint, claimed_at,
    identity_key, agreement_key, reported_authority, max_stale_s, min_iat, last_v, state_doc, state_v, state_iat,
    state_digest, state_authority, authority_from_v, confirmed_at, signed_vs)
    SELECT lock_id, lock_holder_id, name, claim_secret_sealed, fingerprint, claimed_at, identity_key, agreement_key,
      reported_authority, max_stale_s, min_iat, last_v, state_doc, state_v, state_iat, state_digest, state_authority,
      authority_from_v, CASE WHEN reported_authority IS NOT NULL THEN claimed_at END,
      CASE WHEN reported_authority IS NULL AND state_v IS NOT NULL THEN '[' || state_v || ']' ELSE '[]' END
    FROM lock_claims;
  DROP TABLE lock_claims;
  ALTER TABLE lock_claims_v10 RENAME TO lock_claims;
  CREATE INDEX lock_claims_lock_holder ON lock_claims(lock_holder_id, lock_id);
  `,
  // 11: a recurring key's weekly windows (issue 14), JSON in the API's shape; NULL for a key with none.
  () => `ALTER TABLE keys ADD COLUMN recurrence TEXT;`,
  // 12: key edits (issue 14, docs/design.md section 4 "Editing a key"): when a key was last edited (unix seconds); once
  // an edit narrowed it, the iat below which its tokens are refused at the lock and the latest exp of those tokens
  // (the entry is needed until then); NULL for a key never so edited.
  (t) => `
  ALTER TABLE keys ADD COLUMN edited_at ${t.int};
  ALTER TABLE keys ADD COLUMN revoke_before ${t.int};
  ALTER TABLE keys ADD COLUMN revoke_until_s ${t.int};
  `,
  // 13: webhook event types, pause and key state changes (issue 14, docs/webhooks.md): the types a webhook takes (a
  // JSON array; NULL for every type) and when it was paused; per key, the state last announced (scheduled or active)
  // and when it next changes, so a worker finds the keys crossing a boundary by index. Keys stored before this have
  // NULL there and announce no state change: their past boundaries are history, not news.
  (t) => `
  ALTER TABLE webhooks ADD COLUMN event_types TEXT;
  ALTER TABLE webhooks ADD COLUMN paused_at ${t.int};
  ALTER TABLE keys ADD COLUMN state_notified TEXT;
  ALTER TABLE keys ADD COLUMN state_next_at ${t.int};
  CREATE INDEX keys_state_next ON keys(state_next_at);
  `,
  // 14: a lock's revocations (its signed state's list, rebuilt at every state fetch, revocation and prefetch) through
  // a partial index of only the revoked and narrowed keys, in cti order: both databases read every key of the lock
  // holder through keys_status_page for it, so a prefetch of 10 locks' states took 5.3 s at 1M keys (issue 17 item 3).
  () => `
  CREATE INDEX keys_lock_revoked ON keys(lock_id, lock_holder_id, cti)
    WHERE status = 'revoked' OR revoke_before IS NOT NULL;
  `,
  // 15 (issue 14): the webhook worker's claim
  // skips the deliveries of paused webhooks (store/sql.ts NOT_PAUSED) with a subquery that read every webhook on each
  // poll. Partial, so it holds only the few paused ones, and on id, so the subquery reads nothing else.
  () => `CREATE INDEX webhooks_paused ON webhooks(id) WHERE paused_at IS NOT NULL;`,
  // 16 (issue 14, docs/webhooks.md "Presence"): a lock whose bridge went silent is offline whatever the bridge said
  // last. Per lock: since when its bridge was silent (NULL while heard), the presence last announced and when, and when
  // a change held back by the flap limit is due (a worker finds those by index). Existing locks announced their
  // presence as it stands: nothing is news on upgrade.
  (t) => `
  ALTER TABLE locks ADD COLUMN bridge_silent_since ${t.int};
  ALTER TABLE locks ADD COLUMN presence_announced INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE locks ADD COLUMN presence_announced_at ${t.int};
  ALTER TABLE locks ADD COLUMN presence_due_at ${t.int};
  UPDATE locks SET presence_announced = online;
  CREATE INDEX locks_presence_due ON locks(presence_due_at, id);
  `,
];

/** The migrations as the dialect runs them, one SQL script per version. */
export function migrations(t: DdlTypes): string[] {
  return MIGRATIONS.map((m) => m(t).replace(/\bTEXT\b/g, `TEXT${t.textCollation}`));
}
