/**
 * The bridge's own state (bridge.db). Append new scripts; never edit a released one.
 * - feed_cursor: the change-feed cursor, written in the same transaction as the changes it covers.
 * - vendor_connections, issuers, keys: the cloud's state for this bridge, from the change feed.
 * - locks: one row per lock the cloud assigned or the bridge has seen, with the desired and reported sync versions.
 * - outbox: events, telemetry and presence waiting for the cloud's acknowledgement; `ready` marks items of locks the
 *   cloud has assigned to this bridge (only those may be uploaded), kept in step with `locks.assigned`.
 * - lock_states (3): the latest signed state document of each lock the cloud has one for, as the cloud answered it
 *   (docs/design.md section 7, "Couriers": the bridge never alters it), with the `v` the cloud answered beside it.
 */
export const BRIDGE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE feed_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cursor TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE vendor_connections (
    id TEXT PRIMARY KEY,
    lock_holder_id TEXT NOT NULL,
    vendor TEXT NOT NULL,
    username TEXT NOT NULL,
    check_salt TEXT NOT NULL,
    check_digest TEXT NOT NULL,
    cloud_state TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    change_seq INTEGER NOT NULL DEFAULT 0,
    handled_seq INTEGER NOT NULL DEFAULT -1,
    reported_state TEXT,
    reported_reason TEXT,
    reported_digest TEXT,
    reported_locks TEXT
  );
  CREATE TABLE issuers (
    lock_holder_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    x TEXT NOT NULL,
    retired INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (lock_holder_id, kid)
  );
  CREATE TABLE locks (
    lock_id TEXT PRIMARY KEY,
    vendor_connection_id TEXT,
    lock_holder_id TEXT,
    assigned INTEGER NOT NULL DEFAULT 0,
    desired_v INTEGER NOT NULL DEFAULT 0,
    reported_v INTEGER NOT NULL DEFAULT 0,
    transport TEXT,
    first_seen_at INTEGER,
    last_seen_at INTEGER,
    online INTEGER NOT NULL DEFAULT 0,
    lock_state TEXT,
    battery_level INTEGER,
    battery_mv INTEGER,
    battery_state TEXT,
    ble_events_after INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX locks_holder ON locks (lock_holder_id) WHERE assigned = 1;
  CREATE TABLE keys (
    key_id TEXT PRIMARY KEY,
    lock_id TEXT NOT NULL,
    cti TEXT NOT NULL,
    sub TEXT NOT NULL,
    nbf INTEGER NOT NULL,
    exp INTEGER NOT NULL,
    state TEXT NOT NULL
  );
  CREATE INDEX keys_lock ON keys (lock_id);
  CREATE INDEX keys_exp ON keys (exp);
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    lock_id TEXT NOT NULL,
    item_id TEXT,
    body TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    ready INTEGER NOT NULL DEFAULT 0
  );
  -- No index besides the rowid: the outbox takes thousands of inserts and deletes a second, and an index on random
  -- ids costs each of them several times over. Items are taken and expired in rowid order (rowids rise with time).
  -- A message a lock sends twice (PUBACK lost) may be stored twice; the cloud keeps one per id.
  `,
  // 2 (review 12.5): an older bridge followed a lock's report of 2^53 - 1 to a desired version of 2^53, which no lock
  // can read. Forget reports at the top of the range and start such a lock again just above its last plausible report
  // (the lock re-reports its real version, and the bridge goes past it): today's code never stores these values.
  `
  UPDATE locks SET reported_v = 0 WHERE reported_v >= ${Number.MAX_SAFE_INTEGER};
  UPDATE locks SET desired_v = reported_v + 1 WHERE desired_v > ${Number.MAX_SAFE_INTEGER};
  `,
  // 3 (issue 13): signed lock state kept for the courier path (bridge/src/trust/state-relay.ts). IF NOT EXISTS: a
  // database whose version was set back to re-run migration 2 (sync.test.ts does) runs this one again.
  `
  CREATE TABLE IF NOT EXISTS lock_states (
    lock_id TEXT PRIMARY KEY,
    v INTEGER NOT NULL,
    iat INTEGER NOT NULL,
    document BLOB NOT NULL,
    fetched_at INTEGER NOT NULL
  );
  `,
];
