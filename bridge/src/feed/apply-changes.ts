import type { Change } from "../cloud/types.js";
import type { Db } from "../store/database.js";

export interface Applied {
  /** Locks whose row changed (assignment, claim). */
  locks: Set<string>;
  /** Vendor connections that changed. */
  connections: Set<string>;
  /** Remote actions new to this bridge (a page applied twice adds none). */
  actions: Set<string>;
  /**
   * Whether anything in the page can change a lock's signed state (a key revoked, an issuer key, a lock claimed or
   * moved): the caller fetches the states again. Keys and issuer keys themselves are not kept: the cloud signs them
   * into each lock's state (docs/design.md section 7), and the bridge needs neither phone numbers nor key schedules.
   */
  states: boolean;
}

/**
 * Writes feed changes into the bridge's tables. Runs inside the caller's transaction, together with the new cursor,
 * so a remote action is either on disk with the cursor that covers it or read again after a crash.
 */
export class ChangeApplier {
  private readonly sql;

  constructor(
    db: Db,
    private readonly now: () => number,
  ) {
    this.sql = {
      connection: db.prepare(
        `INSERT INTO vendor_connections (id, lock_holder_id, vendor, username, check_salt, check_digest, cloud_state, deleted, change_seq)
         VALUES (@id, @lockHolderId, @vendor, @username, @salt, @digest, @state, @deleted, @seq)
         ON CONFLICT (id) DO UPDATE SET lock_holder_id = excluded.lock_holder_id, vendor = excluded.vendor,
           username = excluded.username, check_salt = excluded.check_salt, check_digest = excluded.check_digest,
           cloud_state = excluded.cloud_state, deleted = excluded.deleted, change_seq = excluded.change_seq`,
      ),
      lock: db.prepare(
        `INSERT INTO locks (lock_id, vendor_connection_id, lock_holder_id, assigned, claimed) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (lock_id) DO UPDATE SET vendor_connection_id = excluded.vendor_connection_id,
           lock_holder_id = excluded.lock_holder_id, assigned = excluded.assigned,
           claimed = COALESCE(excluded.claimed, locks.claimed)`,
      ),
      // Items waiting for this lock become uploadable (or stop being so) together with its assignment.
      outboxReady: db.prepare("UPDATE outbox SET ready = ? WHERE lock_id = ? AND ready <> ?"),
      action: db.prepare(
        `INSERT OR IGNORE INTO actions (action_id, lock_id, action, expires_at, state, received_at)
         VALUES (?, ?, ?, ?, 'pending', ?)`,
      ),
    };
  }

  apply(changes: readonly Change[]): Applied {
    const applied: Applied = { locks: new Set(), connections: new Set(), actions: new Set(), states: false };
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
        case "issuer":
        case "key":
          applied.states = true;
          break;
        case "lock": {
          const claimed = change.claimed === undefined ? null : change.claimed ? 1 : 0;
          this.sql.lock.run(
            change.lockId,
            change.vendorConnectionId,
            change.lockHolderId,
            change.removed ? 0 : 1,
            claimed,
          );
          this.sql.outboxReady.run(change.removed ? 0 : 1, change.lockId, change.removed ? 0 : 1);
          applied.locks.add(change.lockId);
          applied.connections.add(change.vendorConnectionId);
          applied.states = true;
          break;
        }
        case "action":
          if (
            this.sql.action.run(change.actionId, change.lockId, change.action, Date.parse(change.expiresAt), this.now())
              .changes > 0
          )
            applied.actions.add(change.actionId);
          break;
      }
    }
    return applied;
  }
}
