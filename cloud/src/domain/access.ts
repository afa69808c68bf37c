import type { KeyRecord, LockHolderRecord, LockRecord, WebhookRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { invalid, notFound } from "./errors.js";

/**
 * Who is calling. Integrator tokens carry `lockHolderId` when scoped `lockHolder.admin:<id>` (null for
 * `integrator.admin`); bridge tokens name their bridge; app tokens their device and phone number.
 */
export type Principal =
  | { kind: "integrator"; integratorId: string; lockHolderId: string | null }
  | { kind: "bridge"; bridgeId: string; lockHolderId: string }
  | { kind: "app"; deviceId: string; userId: string };

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

export async function keyOf(tx: Tx, lh: LockHolderRecord, keyId: string): Promise<KeyRecord> {
  const key = await tx.keys.get(keyId);
  if (!key || key.lockHolderId !== lh.id) throw notFound("key");
  return key;
}

/** A live webhook of `lh`; a deleted one answers as one that never was. */
export async function webhookOf(tx: Tx, lh: LockHolderRecord, webhookId: string): Promise<WebhookRecord> {
  const webhook = await tx.webhooks.get(webhookId);
  if (!webhook || webhook.lockHolderId !== lh.id || webhook.deletedAt !== null) throw notFound("webhook");
  return webhook;
}

/** A lock named in a body (not the path): an unknown one is a bad request, naming the field. */
export async function lockInBody(tx: Tx, lh: LockHolderRecord, lockId: string, field: string): Promise<LockRecord> {
  const lock = await tx.locks.get(lockId);
  if (!lock || lock.lockHolderId !== lh.id || lock.removedAt !== null) {
    throw invalid(`${field}: lock ${JSON.stringify(lockId)} is not a lock of this lock holder`, "unknown_lock");
  }
  return lock;
}
