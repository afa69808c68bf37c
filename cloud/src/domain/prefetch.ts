import { fromHex, prefetchKeysUrl, toBase64Url } from "@latchkey/protocol";
import { iso, isoOrNull } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../context.js";
import type { DeviceRecord, LockRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { claimedByHolder } from "./claims.js";
import { mintKeyToken, tokenWindow } from "./issuers.js";
import { keyState, keyUseUrl } from "./keys.js";
import { latestLockState } from "./lock-state.js";

/**
 * Prefetch (docs/app-api.md): every usable key of the device's number on a claimed lock, each token minted for this
 * device's key, the live issuer keys of their lock holders and the latest signed state of each lock. Runs in the
 * caller's write transaction (minting records the tokens).
 */
export async function prefetchKeys(tx: Tx, ctx: CloudContext, device: DeviceRecord) {
  const devicePublicKey = fromHex(device.publicKey);
  const now = ctx.clock.now();
  const keys = [];
  const lockHolders = new Set<string>();
  const keyedLocks: { lockId: string; lockHolderId: string }[] = [];
  // A phone's keys name the same few locks over and over: read each lock and its claim once (issue 17 item 3: a
  // 1,000-key prefetch made two round trips per key for them, ~1 s of the 1.9 s on PostgreSQL).
  const claimedLocks = new Map<string, Promise<LockRecord | undefined>>();
  const claimedLock = (lockId: string) => {
    let found = claimedLocks.get(lockId);
    if (!found) {
      found = tx.locks.get(lockId).then(async (lock) => (lock && (await claimedByHolder(tx, lock)) ? lock : undefined));
      claimedLocks.set(lockId, found);
    }
    return found;
  };
  for (const key of await tx.keys.usableForUser(device.userId, now)) {
    // Starting beyond the token lifetime cap: nothing valid to mint yet; a later prefetch brings it.
    if (!tokenWindow(ctx, key)) continue;
    // No token for a lock its key's holder has not claimed (a key from before claims were enforced): that lock
    // trusts no issuer of this holder, and the phone must not carry anything for it (docs/trust.md "Cloud").
    const lock = await claimedLock(key.lockId);
    if (!lock) continue;
    const minted = await mintKeyToken(tx, ctx, key, devicePublicKey);
    lockHolders.add(key.lockHolderId);
    keyedLocks.push({ lockId: key.lockId, lockHolderId: key.lockHolderId });
    keys.push({
      keyId: key.id,
      lockId: key.lockId,
      lockName: lock.name,
      start: iso(key.startAt),
      end: isoOrNull(key.endAt),
      state: keyState(key, now),
      token: toBase64Url(minted.token),
      tokenExpires: iso(minted.expS * 1000),
      useKeyUrl: keyUseUrl(ctx, key),
    });
  }
  const issuers = (await tx.issuerKeys.listLive([...lockHolders])).map((k) => ({ kid: k.kid, x: k.publicKey }));
  // Phones are couriers too (docs/design.md section 7): the latest signed state of each claimed lock the keys
  // open, signed after the tokens above were minted, so it names the issuer key that signed them.
  const states = [];
  // Only a claim by the lock holder whose key this phone holds for that lock: never another tenant's document.
  const holdersByLock = new Map<string, Set<string>>();
  for (const k of keyedLocks) {
    const set = holdersByLock.get(k.lockId) ?? new Set<string>();
    set.add(k.lockHolderId);
    holdersByLock.set(k.lockId, set);
  }
  for (const claim of await tx.lockClaims.getMany([...holdersByLock.keys()])) {
    if (!holdersByLock.get(claim.lockId)?.has(claim.lockHolderId)) continue;
    const signed = await latestLockState(tx, ctx, claim);
    states.push({ lockId: claim.lockId, v: signed.v, state: toBase64Url(fromHex(signed.doc)) });
  }
  return {
    userId: device.userId,
    keys,
    issuers,
    states,
    prefetchKeysUrl: prefetchKeysUrl({}, ctx.settings.linkBase),
  };
}
