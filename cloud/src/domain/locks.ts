import type { CloudContext } from "../context.js";
import { FeedWriter } from "../feed/changes.js";
import type { Address, LockRecord, VendorConnectionRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { revokeKey } from "./keys.js";

/** A lock as it first enters the store under a vendor connection: no address, battery or presence yet. */
export function newLockRecord(
  vc: Pick<VendorConnectionRecord, "id" | "lockHolderId" | "vendor">,
  id: string,
  name: string,
  now: number,
  online: boolean,
): LockRecord {
  return {
    id,
    lockHolderId: vc.lockHolderId,
    vendorConnectionId: vc.id,
    vendor: vc.vendor,
    name,
    imageUrl: null,
    address: null,
    timezone: null,
    createdAt: now,
    removedAt: null,
    battery: null,
    online,
    presenceTsS: null,
    eventSeq: 0,
  };
}

/** Takes a lock out of service: removed from its lock holder, its keys revoked, bridges told. */
export async function offboardLock(
  tx: Tx,
  ctx: CloudContext,
  lock: LockRecord,
  vc: VendorConnectionRecord,
): Promise<void> {
  await tx.locks.markRemoved(lock.id, ctx.clock.now());
  for (const key of await tx.keys.liveForLock(lock.id)) {
    if (key.status === "creating") await tx.keys.setStatus(key.id, "error", { error: "the lock was removed" });
    else await revokeKey(tx, ctx, key);
  }
  if (vc.bridgeId !== null) await new FeedWriter(tx, ctx).lock(lock, true);
}

/** Partial address update: given fields replace stored ones, null fields are removed; an empty result is no address. */
export function mergeAddress(
  current: Address | null,
  patch: Record<string, string | null | undefined>,
): Address | null {
  const next: Record<string, string> = { ...(current ?? {}) } as Record<string, string>;
  for (const [field, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null) delete next[field];
    else next[field] = value;
  }
  return Object.keys(next).length === 0 ? null : (next as Address);
}
