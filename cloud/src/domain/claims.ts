import {
  decodeSetupCode,
  fingerprintMatches,
  fromHex,
  type LockPublicKeys,
  ProtocolError,
  toHex,
} from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import { FeedWriter } from "../feed/changes.js";
import { ApiError, unprocessable } from "../http/errors.js";
import type { LockClaimRecord, LockHolderRecord, LockRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";

/**
 * Claiming a lock with its setup code (docs/design.md section 7 "Identity and claim", docs/trust.md "Cloud"). The code
 * reaches the cloud only through the Integrator API; its claim secret is sealed under the master key, bound to the
 * lock id, and leaves the cloud only inside pin tags (never in an answer or a log line).
 */
const sealContext = (lockId: string) => `claim-secret:${lockId}`;

export function claimSecretOf(ctx: CloudContext, claim: LockClaimRecord): Uint8Array {
  return ctx.sealer.open(claim.claimSecretSealed, sealContext(claim.lockId));
}

export interface ClaimOutcome {
  claim: LockClaimRecord;
  created: boolean;
}

/**
 * Claims the lock a setup code names for `lh`. A code that does not decode is 422 naming the problem
 * (`bad_checksum`: a typo; `bad_setup_code`: not a latchkey code). The same holder claiming again (a factory reset made
 * new keys and the label was scanned again) replaces the secret and fingerprint. A lock claimed by another lock holder
 * is 409 `already_claimed`, the same answer whichever holder or integrator that is: the code proves physical access,
 * not that the current holder has let go, and the answer names nobody (design.md section 7: no `conflict` that names
 * another tenant).
 */
export async function claimLock(
  tx: Tx,
  ctx: CloudContext,
  lh: LockHolderRecord,
  setupCode: string,
  name: string | undefined,
): Promise<ClaimOutcome> {
  let identity: ReturnType<typeof decodeSetupCode>;
  try {
    identity = decodeSetupCode(setupCode);
  } catch (e) {
    if (e instanceof ProtocolError && (e.code === "bad_checksum" || e.code === "bad_setup_code")) {
      throw unprocessable(`setupCode: ${e.message}`, e.code);
    }
    throw e;
  }
  const { lockId } = identity;
  const sealed = ctx.sealer.seal(identity.claimSecret, sealContext(lockId));
  identity.claimSecret.fill(0);
  const fingerprint = toHex(identity.fingerprint);
  const existing = await tx.lockClaims.get(lockId);
  if (existing && existing.lockHolderId !== lh.id) {
    throw new ApiError(
      409,
      "already_claimed",
      "this lock is claimed by another lock holder; it must be released there before it can be claimed here",
    );
  }
  if (existing) {
    await tx.lockClaims.reclaim(lockId, sealed, fingerprint, name ?? null);
    await announceClaim(tx, ctx, lh, lockId);
    return { claim: (await tx.lockClaims.get(lockId))!, created: false };
  }
  const claim: LockClaimRecord = {
    lockId,
    lockHolderId: lh.id,
    name: name ?? null,
    claimSecretSealed: sealed,
    fingerprint,
    claimedAt: ctx.clock.now(),
    identityKey: null,
    agreementKey: null,
    reportedAuthority: null,
    maxStaleS: null,
    minIat: null,
    lastV: 0,
    stateDoc: null,
    stateV: null,
    stateIat: null,
    stateDigest: null,
    stateAuthority: null,
    authorityFromV: null,
  };
  await tx.lockClaims.insert(claim);
  await announceClaim(tx, ctx, lh, lockId);
  return { claim, created: true };
}

/**
 * A claim (or a claim again after a factory reset: a new pin tag) changes what the cloud signs for the lock: a `lock`
 * entry with `claimed: true` on the feed of the bridge serving it, so that bridge fetches the signed state at once
 * (docs/bridge-api.md). Only when the lock is under one of the claiming holder's own bridge-served connections.
 */
async function announceClaim(tx: Tx, ctx: CloudContext, lh: LockHolderRecord, lockId: string): Promise<void> {
  const lock = await tx.locks.get(lockId);
  if (!lock || lock.lockHolderId !== lh.id || lock.removedAt !== null) return;
  const vc = await tx.vendorConnections.get(lock.vendorConnectionId);
  if (!vc || vc.bridgeId === null || vc.deletedAt !== null) return;
  await new FeedWriter(tx, ctx).lock(lock, false);
}

export type RecordKeysOutcome = "recorded" | "mismatch" | "not_claimed";

/**
 * Records the public keys a claimed lock reports, only when they match the setup code's fingerprint (constant time):
 * the first report of a claimed lock must prove it is the lock whose label was scanned. The ingest of lock reports
 * calls it from the next session on.
 */
export async function recordLockPublicKeys(tx: Tx, lockId: string, keys: LockPublicKeys): Promise<RecordKeysOutcome> {
  const claim = await tx.lockClaims.get(lockId);
  if (!claim || claim.fingerprint === null) return "not_claimed";
  if (!fingerprintMatches(fromHex(claim.fingerprint), keys)) return "mismatch";
  await tx.lockClaims.setPublicKeys(lockId, toHex(keys.identityKey), toHex(keys.agreementKey));
  return "recorded";
}

/** The claim of `lockId` by `lh`, if any. A virtual lock is claimed by construction (the cloud is that lock). */
export async function claimOf(tx: Tx, lh: LockHolderRecord, lockId: string): Promise<LockClaimRecord | undefined> {
  const claim = await tx.lockClaims.get(lockId);
  return claim && claim.lockHolderId === lh.id ? claim : undefined;
}

export const isClaimed = (lock: LockRecord, claim: LockClaimRecord | undefined) =>
  lock.vendor === "virtual" || claim !== undefined;

/**
 * 409 `lock_not_claimed` for a lock its holder has not claimed (docs/design.md section 7 "Identity and claim": without
 * the code no lock holder can key a lock id). The same words whether nobody or another lock holder holds the claim, so
 * the answer says nothing about other tenants. `field` names where the lock came from (a batch item).
 */
export const lockNotClaimed = (lockId: string, field?: string) =>
  new ApiError(
    409,
    "lock_not_claimed",
    `${field ? `${field}: ` : ""}lock ${JSON.stringify(lockId)} is not claimed by this lock holder; claim it with ` +
      "its setup code (POST /integrators/v1/lock-holders/{lockHolderId}/locks/claims) first",
  );

/** Whether the lock's own holder has claimed it (virtual locks: by construction). */
export async function claimedByHolder(tx: Tx, lock: LockRecord): Promise<boolean> {
  if (lock.vendor === "virtual") return true;
  const claim = await tx.lockClaims.get(lock.id);
  return claim !== undefined && claim.lockHolderId === lock.lockHolderId;
}

/** Refuses (409 `lock_not_claimed`) what needs a claimed lock: keys, remote actions. */
export async function assertClaimed(tx: Tx, lock: LockRecord, field?: string): Promise<void> {
  if (!(await claimedByHolder(tx, lock))) throw lockNotClaimed(lock.id, field);
}

/** What a claim answers: never the claim secret, nor anything about the lock's other tenants. */
export const claimView = (c: LockClaimRecord) => ({
  lockId: c.lockId,
  name: c.name ?? c.lockId,
  claimed: true as const,
  claimedAt: new Date(c.claimedAt).toISOString(),
  keysReported: c.identityKey !== null,
  stateV: c.stateV,
});
