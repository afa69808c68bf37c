import { isValidTimeZone } from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import { FeedWriter } from "../feed/changes.js";
import type {
  Address,
  LockClaimRecord,
  LockHolderRecord,
  LockRecord,
  VendorConnectionRecord,
} from "../store/records.js";
import type { Tx } from "../store/store.js";
import { lockOf } from "./access.js";
import { claimOf } from "./claims.js";
import { conflict, invalid } from "./errors.js";
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
    bridgeSilentSince: null,
    presenceAnnounced: online,
    presenceAnnouncedAt: null,
    presenceDueAt: null,
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

/** What a lock's owner may change; `undefined` leaves a field as it is, `null` removes it. */
export interface LockPatch {
  name?: string;
  imageUrl?: string | null;
  timezone?: string | null;
  address?: Record<string, string | null | undefined> | null;
  /** Claimed locks only (docs/trust.md, Applying a state): 409 on a lock not claimed, nothing changed. */
  maxStale?: number | null;
}

/** Updates a lock of `lh` (404 for any other), answering it and its claim as they now are. */
export async function updateLock(
  tx: Tx,
  ctx: CloudContext,
  lh: LockHolderRecord,
  lockId: string,
  patch: LockPatch,
): Promise<readonly [LockRecord, LockClaimRecord | undefined]> {
  const current = await lockOf(tx, lh, lockId);
  // The lock reads recurring keys in this zone (its signed state's tz): one the tz database does not know is refused.
  if (patch.timezone != null && !isValidTimeZone(patch.timezone))
    throw invalid(`body.timezone: ${JSON.stringify(patch.timezone)} is not an IANA timezone (e.g. Europe/Oslo)`);
  if (patch.maxStale !== undefined) {
    const claimed = await claimOf(tx, lh, lockId);
    if (!claimed) throw conflict("maxStale: the lock is not claimed; claim it with its setup code first");
    await tx.lockClaims.setMaxStale(lockId, lh.id, patch.maxStale);
  }
  await tx.locks.update(current.id, {
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.imageUrl !== undefined ? { imageUrl: patch.imageUrl } : {}),
    ...(patch.timezone !== undefined ? { timezone: patch.timezone } : {}),
    ...(patch.address !== undefined
      ? { address: patch.address === null ? null : mergeAddress(current.address, patch.address) }
      : {}),
  });
  const updated = (await tx.locks.get(current.id))!;
  // The timezone and maxStale are in the lock's signed state: a lock change on the feed has its bridge carry the newer
  // state now, not with whatever changes next (a recurring key would meanwhile be refused for want of a zone).
  if (patch.timezone !== undefined || patch.maxStale !== undefined) await new FeedWriter(tx, ctx).lock(updated, false);
  return [updated, await claimOf(tx, lh, lockId)] as const;
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
