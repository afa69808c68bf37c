import type { Change } from "../cloud/types.js";
import type { Db } from "../store/database.js";

export interface Applied {
  /** Locks whose desired state changed (their version was raised). */
  locks: Set<string>;
  /** Vendor connections that changed. */
  connections: Set<string>;
}

/**
 * Writes feed changes into the bridge's tables and raises the desired sync version of every lock whose desired state
 * they touch, once per call. Runs inside the caller's transaction, together with the new cursor.
 */
export class ChangeApplier {
  private readonly sql;

  constructor(db: Db) {
    this.sql = {
      connection: db.prepare(
        `INSERT INTO vendor_connections (id, lock_holder_id, vendor, username, check_salt, check_digest, cloud_state, deleted, change_seq)
         VALUES (@id, @lockHolderId, @vendor, @username, @salt, @digest, @state, @deleted, @seq)
         ON CONFLICT (id) DO UPDATE SET lock_holder_id = excluded.lock_holder_id, vendor = excluded.vendor,
           username = excluded.username, check_salt = excluded.check_salt, check_digest = excluded.check_digest,
           cloud_state = excluded.cloud_state, deleted = excluded.deleted, change_seq = excluded.change_seq`,
      ),
      issuer: db.prepare(
        `INSERT INTO issuers (lock_holder_id, kid, x, retired) VALUES (?, ?, ?, ?)
         ON CONFLICT (lock_holder_id, kid) DO UPDATE SET x = excluded.x, retired = excluded.retired`,
      ),
      locksOfHolder: db.prepare("SELECT lock_id FROM locks WHERE lock_holder_id = ? AND assigned = 1"),
      lock: db.prepare(
        `INSERT INTO locks (lock_id, vendor_connection_id, lock_holder_id, assigned) VALUES (?, ?, ?, ?)
         ON CONFLICT (lock_id) DO UPDATE SET vendor_connection_id = excluded.vendor_connection_id,
           lock_holder_id = excluded.lock_holder_id, assigned = excluded.assigned`,
      ),
      key: db.prepare(
        `INSERT INTO keys (key_id, lock_id, cti, sub, nbf, exp, state) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key_id) DO UPDATE SET lock_id = excluded.lock_id, cti = excluded.cti, sub = excluded.sub,
           nbf = excluded.nbf, exp = excluded.exp, state = excluded.state`,
      ),
      ensureLock: db.prepare("INSERT OR IGNORE INTO locks (lock_id) VALUES (?)"),
      // Items waiting for this lock become uploadable (or stop being so) together with its assignment.
      outboxReady: db.prepare("UPDATE outbox SET ready = ? WHERE lock_id = ? AND ready <> ?"),
      // Never past the safe integers (docs/mqtt.md): a version above them cannot go on the wire.
      bump: db.prepare(`UPDATE locks SET desired_v = MIN(desired_v + 1, ${Number.MAX_SAFE_INTEGER}) WHERE lock_id = ?`),
    };
  }

  apply(changes: readonly Change[]): Applied {
    const applied: Applied = { locks: new Set(), connections: new Set() };
    for (const change of changes) {
      switch (change.kind) {
        case "vendor_connection": {
          const vc = change.vendorConnection;
          this.sql.connection.run({
            id: vc.id,
            lockHolderId: vc.lockHolderId,
            vendor: vc.vendor,
            username: vc.username,
            salt: vc.credentialCheck.salt,
            digest: vc.credentialCheck.digest,
            state: vc.state,
            deleted: vc.deleted ? 1 : 0,
            seq: change.seq,
          });
          applied.connections.add(vc.id);
          break;
        }
        case "issuer": {
          this.sql.issuer.run(change.lockHolderId, change.kid, change.x, change.retired ? 1 : 0);
          for (const row of this.sql.locksOfHolder.iterate(change.lockHolderId) as Iterable<{ lock_id: string }>)
            applied.locks.add(row.lock_id);
          break;
        }
        case "lock":
          this.sql.lock.run(change.lockId, change.vendorConnectionId, change.lockHolderId, change.removed ? 0 : 1);
          this.sql.outboxReady.run(change.removed ? 0 : 1, change.lockId, change.removed ? 0 : 1);
          applied.locks.add(change.lockId);
          applied.connections.add(change.vendorConnectionId);
          break;
        case "key":
          this.sql.key.run(change.keyId, change.lockId, change.cti, change.sub, change.nbf, change.exp, change.state);
          this.sql.ensureLock.run(change.lockId);
          applied.locks.add(change.lockId);
          break;
      }
    }
    for (const lockId of applied.locks) this.sql.bump.run(lockId);
    return applied;
  }
}
