/**
 * The bridge's own state (bridge.db). Append new scripts; never edit a released one.
 * - feed_cursor: the change-feed cursor, written in the same transaction as the changes it covers.
 * - vendor_connections: the cloud's vendor connections for this bridge, from the change feed.
 * - locks: one row per lock the cloud assigned or the bridge has seen: assignment and claim (feed), presence, the
 *   Home Assistant display state, the lock's public keys (its `keys` message) and, for BLE locks, the highest report
 *   counter pulled.
 * - outbox: sealed reports (raw bytes, as the lock sent them) and presence waiting for the cloud's answer; `ready`
 *   marks items of locks the cloud has assigned to this bridge (only those may be uploaded), kept in step with
 *   `locks.assigned`.
 * - lock_states (3): the latest signed state document of each lock the cloud has one for, as the cloud answered it
 *   (docs/design.md section 7, "Couriers": the bridge never alters it), with the `v` the cloud answered beside it.
 * - actions (4): remote actions from the change feed (docs/bridge-api.md), until carried out or expired.
 * - outbox.event_type (5): the type of an event report as the courier's peek read it at receipt, so the uploader need
 *   not peek the stored bytes again on the cloud's answer; NULL for telemetry, presence and rows stored before it (the
 *   uploader peeks those).
 * - outbox.lane_key (6): a hash of the lock id (FNV-1a, `lockHash`), so that an upload lane reads only its own locks'
 *   rows; NULL in rows stored before it (the lane is then worked out from the lock id as they are read).
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
  // 4 (issue 13, the switch-over; docs/design.md section 7 "Removed"): the bridge is a courier. No desired state, sync
  // versions or grants any more (issuers and keys held phone numbers and key schedules the bridge no longer needs),
  // and event and telemetry items of the unsigned ingest are dropped: the cloud no longer takes them, and the lock
  // keeps every event until its signed state's ack, so it sends them again as sealed reports. The outbox keeps a
  // report's raw bytes; the lock's public keys and a BLE lock's highest pulled report counter live with the lock.
  `
  DROP TABLE IF EXISTS keys;
  DROP TABLE IF EXISTS issuers;
  ALTER TABLE locks DROP COLUMN desired_v;
  ALTER TABLE locks DROP COLUMN reported_v;
  ALTER TABLE locks DROP COLUMN ble_events_after;
  ALTER TABLE locks ADD COLUMN claimed INTEGER;
  ALTER TABLE locks ADD COLUMN identity_key BLOB;
  ALTER TABLE locks ADD COLUMN x25519_key BLOB;
  ALTER TABLE locks ADD COLUMN ble_reports_after INTEGER NOT NULL DEFAULT 0;
  DELETE FROM outbox WHERE kind <> 'presence';
  CREATE TABLE outbox_v4 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    lock_id TEXT NOT NULL,
    body TEXT,
    report BLOB,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    ready INTEGER NOT NULL DEFAULT 0,
    CHECK ((body IS NULL) <> (report IS NULL))
  );
  INSERT INTO outbox_v4 (id, kind, lock_id, body, bytes, created_at, ready)
    SELECT id, kind, lock_id, body, bytes, created_at, ready FROM outbox;
  -- Ids keep rising from where the old table's left off (AUTOINCREMENT: never one handed out before).
  DELETE FROM sqlite_sequence WHERE name = 'outbox_v4';
  INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox_v4', seq FROM sqlite_sequence WHERE name = 'outbox';
  DROP TABLE outbox;
  ALTER TABLE outbox_v4 RENAME TO outbox;
  CREATE TABLE actions (
    action_id TEXT PRIMARY KEY,
    lock_id TEXT NOT NULL,
    action TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    received_at INTEGER NOT NULL
  );
  `,
  // 5 (issue 17, third pass): what the receipt's peek learnt, kept with the item (bridge/src/uploader/uploader.ts
  // movesAck). Unauthenticated, like the peek; the cloud's verdict on the bytes is what counts.
  `
  ALTER TABLE outbox ADD COLUMN event_type TEXT;
  `,
  // 6 (issue 17, third pass): the upload lane's key (bridge/src/outbox/outbox.ts take).
  `
  ALTER TABLE outbox ADD COLUMN lane_key INTEGER;
  `,
];
