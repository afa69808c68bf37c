import {
  encodeSync,
  fromHex,
  MAX_SYNC_BYTES,
  MAX_SYNC_ENTRIES,
  MAX_SYNC_ISSUERS,
  type SyncMessage,
} from "@latchkey/protocol";
import type { Logger } from "../ops/logger.js";
import type { Db } from "../store/database.js";
import type { SyncVersionAlerts } from "./version-alerts.js";

/**
 * A revoked cti stays on the list until its key has expired, plus the lock's token leeway (60 s) and a margin:
 * removing it earlier would let a revoked token open the door inside the leeway.
 */
export const REVOKED_GRACE_SECONDS = 300;

export interface DesiredSync {
  message: SyncMessage;
  bytes: Uint8Array;
}

/**
 * Builds a lock's `sync` from the bridge's tables: the non-retired issuer keys of its lock holder, its keys in force
 * (grants, optional) and the ctis of its revoked keys still inside their validity. A lock the cloud removed gets no
 * issuers (it must stop opening for that lock holder) and keeps its revocations.
 */
export class DesiredState {
  private readonly sql;

  constructor(
    db: Db,
    private readonly logger: Logger,
    private readonly versionAlerts: SyncVersionAlerts,
  ) {
    this.sql = {
      lock: db.prepare("SELECT assigned, lock_holder_id, desired_v FROM locks WHERE lock_id = ?"),
      issuers: db.prepare(
        "SELECT kid, x FROM issuers WHERE lock_holder_id = ? AND retired = 0 ORDER BY kid LIMIT " +
          (MAX_SYNC_ISSUERS + 1),
      ),
      revoked: db.prepare(
        "SELECT cti FROM keys WHERE lock_id = ? AND state = 'revoked' AND exp + ? > ? ORDER BY exp DESC, cti LIMIT ?",
      ),
      grants: db.prepare(
        "SELECT cti, sub, nbf, exp FROM keys WHERE lock_id = ? AND state = 'active' AND exp + ? > ? ORDER BY exp DESC, cti LIMIT ?",
      ),
      prune: db.prepare("DELETE FROM keys WHERE exp + ? <= ?"),
    };
  }

  /** The sync for `lockId` at its desired version, or null when the bridge has nothing to tell it (never assigned). */
  build(lockId: string, timeSeconds: number, options: { grants: boolean }): DesiredSync | null {
    const lock = this.sql.lock.get(lockId) as
      | { assigned: number; lock_holder_id: string | null; desired_v: number }
      | undefined;
    if (!lock || lock.desired_v < 1) return null;
    if (!Number.isSafeInteger(lock.desired_v)) {
      // A database written by an older bridge may hold one; sending it would wedge the lock (docs/mqtt.md).
      this.versionAlerts.raise(lockId, "unsafe_desired", lock.desired_v, null);
      return null;
    }
    const now = timeSeconds;
    let issuers =
      lock.assigned === 1 && lock.lock_holder_id
        ? (this.sql.issuers.all(lock.lock_holder_id) as { kid: string; x: string }[])
        : [];
    if (issuers.length > MAX_SYNC_ISSUERS) {
      this.logger.error({ lockId, issuers: issuers.length }, "more issuer keys than a sync carries; sending the first");
      issuers = issuers.slice(0, MAX_SYNC_ISSUERS);
    }
    const revokedRows = this.sql.revoked.all(lockId, REVOKED_GRACE_SECONDS, now, MAX_SYNC_ENTRIES + 1) as {
      cti: string;
    }[];
    if (revokedRows.length > MAX_SYNC_ENTRIES) {
      this.logger.error({ lockId }, `over ${MAX_SYNC_ENTRIES} revoked keys in force; the oldest-expiring are not sent`);
      revokedRows.length = MAX_SYNC_ENTRIES;
    }
    const message: SyncMessage = {
      v: lock.desired_v,
      issuers: issuers.map((i) => ({ kid: fromHex(i.kid), x: fromHex(i.x) })),
      revoked: revokedRows.map((r) => fromHex(r.cti)),
      time: now,
    };
    if (options.grants && lock.assigned === 1) {
      const grants = this.sql.grants.all(lockId, REVOKED_GRACE_SECONDS, now, MAX_SYNC_ENTRIES) as {
        cti: string;
        sub: string;
        nbf: number;
        exp: number;
      }[];
      message.grants = grants.map((g) => ({ cti: fromHex(g.cti), sub: g.sub, nbf: g.nbf, exp: g.exp }));
    }
    let bytes = encodeSync(message);
    if (bytes.length > MAX_SYNC_BYTES && message.grants) {
      // Grants are informational (tokens are the authority): drop them before anything that protects the lock.
      this.logger.warn({ lockId, bytes: bytes.length }, "sync too large with grants; sending it without them");
      delete message.grants;
      bytes = encodeSync(message);
    }
    while (bytes.length > MAX_SYNC_BYTES && message.revoked.length > 0) {
      this.logger.error({ lockId }, "sync too large; trimming the revocation list");
      message.revoked = message.revoked.slice(0, Math.floor(message.revoked.length * 0.9));
      bytes = encodeSync(message);
    }
    return { message, bytes };
  }

  /** Forgets keys well past their expiry (they no longer matter to any lock). */
  prune(timeSeconds: number): number {
    return this.sql.prune.run(REVOKED_GRACE_SECONDS, timeSeconds).changes;
  }
}
