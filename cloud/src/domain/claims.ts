import { timingSafeEqual } from "node:crypto";
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
import type { LockClaimRecord, LockHolderRecord, LockRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { conflict, unprocessable } from "./errors.js";
import { keyView } from "./views.js";
import { queueWebhookEvents, type WebhookEvent } from "./webhook-events.js";

/**
 * Claiming a lock with its setup code (docs/design.md section 7 "Identity and claim", docs/trust.md "Cloud"). The code
 * reaches the cloud only through the Integrator API; its claim secret is sealed under the master key, bound to the
 * lock id, and leaves the cloud only inside pin tags (never in an answer or a log line). The cloud has never seen a
 * lock's claim secret, so a code proves nothing by itself: a claim is pending until the lock proves it accepted the
 * holder's authority under it (`confirmClaim`).
 */
const sealContext = (lockId: string) => `claim-secret:${lockId}`;

export function claimSecretOf(ctx: CloudContext, claim: LockClaimRecord): Uint8Array {
  return ctx.sealer.open(claim.claimSecretSealed, sealContext(claim.lockId));
}

export interface ClaimOutcome {
  claim: LockClaimRecord;
  created: boolean;
}

/** The most v kept per pending claim: a lock applies the newest state a courier brings, not one from long ago. */
export const MAX_SIGNED_VS = 64;

/**
 * Whether `claim` holds exactly this code's secret and fingerprint (constant time): a claim again with the same code
 * keeps what the lock proved; another secret or other keys (a factory reset) must be proved again.
 */
function sameCode(ctx: CloudContext, claim: LockClaimRecord, claimSecret: Uint8Array, fingerprint: string): boolean {
  const held = claimSecretOf(ctx, claim);
  try {
    return (
      held.length === claimSecret.length && timingSafeEqual(held, claimSecret) && claim.fingerprint === fingerprint
    );
  } finally {
    held.fill(0);
  }
}

/**
 * Whether another lock holder's claim of the lock stands in the way of a new one: a claim the lock has proved
 * (confirmed), or the claim of the holder whose connection serves the lock (one lock row per id, docs/bridge-api.md):
 * the only claim whose states and reports can pass between the cloud and the lock, so the only one that can confirm
 * while the row is that holder's. A pending claim of any other holder stands in nobody's way: the cloud has never seen
 * a lock's claim secret, so a code made of the lock's id, its public keys and a guessed secret must not take the lock
 * from its owner (docs/design.md section 7 "Identity and claim").
 */
async function claimStandsInTheWay(tx: Tx, others: readonly LockClaimRecord[], lockId: string): Promise<boolean> {
  if (others.some((c) => c.confirmedAt !== null)) return true;
  const lock = await tx.locks.get(lockId);
  return lock !== undefined && lock.removedAt === null && others.some((c) => c.lockHolderId === lock.lockHolderId);
}

/**
 * Claims the lock a setup code names for `lh`. A code that does not decode is 422 naming the problem
 * (`bad_checksum`: a typo; `bad_setup_code`: not a latchkey code). A new claim is pending until the lock proves it
 * (`confirmClaim`); several holders may hold a pending claim of one lock id, none blocking another. The same holder
 * claiming again (a factory reset made new keys and the label was scanned again) replaces the secret and fingerprint,
 * and is pending again unless the code is the very one the lock proved. 409 `already_claimed` only when another
 * holder's claim stands in the way (`claimStandsInTheWay`), the same answer whichever holder or integrator that is:
 * it names nobody (design.md section 7: no `conflict` that names another tenant).
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
  const fingerprint = toHex(identity.fingerprint);
  try {
    const own = await tx.lockClaims.get(lockId, lh.id);
    if (own) {
      const unproved = !sameCode(ctx, own, identity.claimSecret, fingerprint);
      const sealed = ctx.sealer.seal(identity.claimSecret, sealContext(lockId));
      await tx.lockClaims.reclaim(lockId, lh.id, sealed, fingerprint, name ?? null, unproved);
      await announceClaim(tx, ctx, lh, lockId);
      return { claim: (await tx.lockClaims.get(lockId, lh.id))!, created: false };
    }
    const others = await tx.lockClaims.listForLock(lockId);
    if (await claimStandsInTheWay(tx, others, lockId)) {
      throw conflict(
        "this lock is claimed by another lock holder; it must be released there before it can be claimed here",
        "already_claimed",
      );
    }
    const claim: LockClaimRecord = {
      lockId,
      lockHolderId: lh.id,
      name: name ?? null,
      claimSecretSealed: ctx.sealer.seal(identity.claimSecret, sealContext(lockId)),
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
      confirmedAt: null,
      signedVs: [],
    };
    await tx.lockClaims.insert(claim);
    await announceClaim(tx, ctx, lh, lockId);
    return { claim, created: true };
  } finally {
    identity.claimSecret.fill(0);
  }
}

/**
 * The lock's authenticated word that it applied the states of `appliedVs` (`state_applied` events of `ok` reports the
 * bridge serving it for `claim`'s holder delivered; domain/reports.ts). When one is a state signed for this pending
 * claim, the lock has accepted this holder's authority under this claim: it checked the pin tag made with this
 * claim's secret (or already trusted this authority). The claim is confirmed; every other claim of the lock id is
 * dropped, and the live keys of their holders on it are ended: no key of a holder the lock does not trust stays live
 * (it could open nothing: the lock trusts only issuers named in states of its pinned authority). No feed entry: no
 * bridge of theirs serves the lock (the confirming holder's connection does). Answers whether it confirmed.
 */
export async function confirmClaim(
  tx: Tx,
  ctx: CloudContext,
  claim: LockClaimRecord,
  appliedVs: readonly number[],
): Promise<boolean> {
  if (claim.confirmedAt !== null || !appliedVs.some((v) => claim.signedVs.includes(v))) return false;
  const now = ctx.clock.now();
  await tx.lockClaims.confirm(claim.lockId, claim.lockHolderId, now);
  const dropped = new Set<string>();
  const revoked: WebhookEvent[] = [];
  for (const other of await tx.lockClaims.listForLock(claim.lockId)) {
    if (other.lockHolderId === claim.lockHolderId) continue;
    await tx.lockClaims.delete(other.lockId, other.lockHolderId);
    dropped.add(other.lockHolderId);
  }
  for (const key of await tx.keys.liveForLock(claim.lockId)) {
    if (key.lockHolderId === claim.lockHolderId) continue;
    if (key.status === "creating") {
      await tx.keys.setStatus(key.id, "error", { error: "the lock confirmed another lock holder's claim" });
    } else {
      await tx.keys.setStatus(key.id, "revoked", { revokedAt: now });
      // That lock holder hears of it as of any revocation (docs/webhooks.md): the lock is no longer theirs.
      revoked.push({
        lockHolderId: key.lockHolderId,
        type: "key.revoked",
        data: keyView(ctx, { ...key, status: "revoked", revokedAt: now }),
      });
    }
  }
  await queueWebhookEvents(tx, ctx, revoked);
  return true;
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
export async function recordLockPublicKeys(
  tx: Tx,
  lockId: string,
  lockHolderId: string,
  keys: LockPublicKeys,
): Promise<RecordKeysOutcome> {
  const claim = await tx.lockClaims.get(lockId, lockHolderId);
  if (!claim || claim.fingerprint === null) return "not_claimed";
  if (!fingerprintMatches(fromHex(claim.fingerprint), keys)) return "mismatch";
  await tx.lockClaims.setPublicKeys(lockId, lockHolderId, toHex(keys.identityKey), toHex(keys.agreementKey));
  return "recorded";
}

/** The claim of `lockId` by `lh`, if any. A virtual lock is claimed by construction (the cloud is that lock). */
export async function claimOf(tx: Tx, lh: LockHolderRecord, lockId: string): Promise<LockClaimRecord | undefined> {
  return tx.lockClaims.get(lockId, lh.id);
}

export const isClaimed = (lock: LockRecord, claim: LockClaimRecord | undefined) =>
  lock.vendor === "virtual" || claim !== undefined;

/**
 * 409 `lock_not_claimed` for a lock its holder has not claimed (docs/design.md section 7 "Identity and claim": without
 * the code no lock holder can key a lock id). The same words whether nobody or another lock holder holds the claim, so
 * the answer says nothing about other tenants. `field` names where the lock came from (a batch item).
 */
export const lockNotClaimed = (lockId: string, field?: string) =>
  conflict(
    `${field ? `${field}: ` : ""}lock ${JSON.stringify(lockId)} is not claimed by this lock holder; claim it with ` +
      "its setup code (POST /integrators/v1/lock-holders/{lockHolderId}/locks/claims) first",
    "lock_not_claimed",
  );

/**
 * Whether the lock's own holder has claimed it (virtual locks: by construction). A pending claim counts: its holder's
 * bridge must carry the state signed for it, so the lock can prove it, and keys may be made for it (the lock refuses
 * their tokens until it has pinned that holder's authority; keys of a claim another holder's confirmation drops are
 * ended then, `confirmClaim`).
 */
export async function claimedByHolder(tx: Tx, lock: LockRecord): Promise<boolean> {
  if (lock.vendor === "virtual") return true;
  return (await tx.lockClaims.get(lock.id, lock.lockHolderId)) !== undefined;
}

/** Refuses (409 `lock_not_claimed`) what needs a claimed lock: keys, remote actions (a pending claim is claimed). */
export async function assertClaimed(tx: Tx, lock: LockRecord, field?: string): Promise<void> {
  if (!(await claimedByHolder(tx, lock))) throw lockNotClaimed(lock.id, field);
}

/** A claim's standing as the Integrator API shows it: `pending` until the lock proves it, then `confirmed`. */
export type ClaimStatus = "pending" | "confirmed";

/** The standing of `lock`'s claim by its holder (`claim`); virtual locks are confirmed by construction. */
export const claimStatus = (lock: LockRecord, claim: LockClaimRecord | undefined): ClaimStatus | null =>
  lock.vendor === "virtual"
    ? "confirmed"
    : claim === undefined
      ? null
      : claim.confirmedAt === null
        ? "pending"
        : "confirmed";

/** What a claim answers: never the claim secret, nor anything about the lock's other tenants. */
export const claimView = (c: LockClaimRecord) => ({
  lockId: c.lockId,
  name: c.name ?? c.lockId,
  claimed: true as const,
  claim: (c.confirmedAt === null ? "pending" : "confirmed") as ClaimStatus,
  claimedAt: new Date(c.claimedAt).toISOString(),
  keysReported: c.identityKey !== null,
  stateV: c.stateV,
});
