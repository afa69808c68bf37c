import type { Principal } from "../http/auth.js";
import { badRequest, notFound } from "../http/errors.js";
import type { LockHolderRecord, LockRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";

/**
 * Tenant boundaries. Anything not visible to the caller answers 404, exactly as if it did not exist, so ids of
 * other integrators' objects cannot be probed.
 */
export async function lockHolderFor(
  tx: Tx,
  principal: Extract<Principal, { kind: "integrator" }>,
  lockHolderId: string,
): Promise<LockHolderRecord> {
  if (principal.lockHolderId !== null && principal.lockHolderId !== lockHolderId) throw notFound("lock holder");
  const lh = await tx.lockHolders.get(lockHolderId);
  if (!lh || lh.integratorId !== principal.integratorId) throw notFound("lock holder");
  return lh;
}

export async function lockOf(tx: Tx, lh: LockHolderRecord, lockId: string): Promise<LockRecord> {
  const lock = await tx.locks.get(lockId);
  if (!lock || lock.lockHolderId !== lh.id || lock.removedAt !== null) throw notFound(`lock ${JSON.stringify(lockId)}`);
  return lock;
}

/** A lock named in a body (not the path): an unknown one is a bad request, naming the field. */
export async function lockInBody(tx: Tx, lh: LockHolderRecord, lockId: string, field: string): Promise<LockRecord> {
  const lock = await tx.locks.get(lockId);
  if (!lock || lock.lockHolderId !== lh.id || lock.removedAt !== null) {
    throw badRequest(`${field}: lock ${JSON.stringify(lockId)} is not a lock of this lock holder`, "unknown_lock");
  }
  return lock;
}
