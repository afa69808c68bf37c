import { fromHex, keyPairFromSeed, signHandOver, toHex } from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import type { AuthorityRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { conflict } from "./errors.js";

/**
 * Each lock holder's authority (docs/design.md section 7, docs/trust.md "Cloud"): the one Ed25519 key its locks
 * believe. Sealed at rest under the master key exactly as issuer keys are (domain/issuers.ts); the sealing context
 * names the key, so a sealed secret copied onto another row does not open.
 */
const sealContext = (publicKeyHex: string) => `authority:${publicKeyHex}`;

function newAuthority(ctx: CloudContext, lockHolderId: string, handOver: string | null): AuthorityRecord {
  const { secretKey, publicKey } = keyPairFromSeed(ctx.random(32));
  const publicKeyHex = toHex(publicKey);
  const record: AuthorityRecord = {
    publicKey: publicKeyHex,
    lockHolderId,
    secretSealed: ctx.sealer.seal(secretKey, sealContext(publicKeyHex)),
    createdAt: ctx.clock.now(),
    handOver,
    supersededAt: null,
  };
  secretKey.fill(0);
  return record;
}

/** The lock holder's signing authority, created when first needed. */
export async function authorityFor(tx: Tx, ctx: CloudContext, lockHolderId: string): Promise<AuthorityRecord> {
  const current = await tx.authorities.current(lockHolderId);
  if (current) return current;
  const created = newAuthority(ctx, lockHolderId, null);
  await tx.authorities.insert(created);
  return created;
}

/** The authority's private key; the caller zeroes it after use. */
export function authoritySecret(ctx: CloudContext, authority: AuthorityRecord): Uint8Array {
  return ctx.sealer.open(authority.secretSealed, sealContext(authority.publicKey));
}

/**
 * Claimed locks (not virtual ones: the cloud is that lock) that have not yet reported `publicKey` as their authority
 * (a `state_applied` report of a state it signed: recordAppliedState).
 */
export async function locksBehind(tx: Tx, lockHolderId: string, publicKey: string): Promise<string[]> {
  return (await tx.lockClaims.listForLockHolder(lockHolderId))
    .filter((c) => c.fingerprint !== null && c.reportedAuthority !== publicKey)
    .map((c) => c.lockId);
}

/**
 * Rotation by signed hand-over (docs/trust.md "Hand-over"): a new authority, and `{newKey, fromV}` signed by the old
 * one, which every state of the new key carries until each lock has reported the new key. A second rotation before
 * that would leave a lock that never saw the first hand-over unable to follow (a hand-over vouches for one step), so
 * it is refused with 409 naming how many locks are behind. `fromV` is the lowest v any of the holder's signed locks can
 * be signed next (each lock's next v is above its last, domain/lock-state.ts), capped at the cloud's time in ms: every
 * state the new key signs is at or above it, even if the cloud's clock goes back (a lock never signed for gets the
 * cloud's time, so only the clock going back below the rotation could put it under fromV).
 */
export async function rotateAuthority(tx: Tx, ctx: CloudContext, lockHolderId: string): Promise<AuthorityRecord> {
  const old = await authorityFor(tx, ctx, lockHolderId);
  if (old.handOver !== null) {
    const behind = await locksBehind(tx, lockHolderId, old.publicKey);
    if (behind.length > 0) {
      throw conflict(
        `${behind.length} claimed lock(s) have not yet reported the current authority; ` +
          "a second rotation waits until every lock has (docs/trust.md, Cloud)",
        "rotation_pending",
      );
    }
  }
  const now = ctx.clock.now();
  const oldSecret = authoritySecret(ctx, old);
  const next = newAuthority(ctx, lockHolderId, null);
  // A lock never signed for (last v 0) gets v = max(1, now) next: it does not pull fromV down to 1.
  const nextVs = (await tx.lockClaims.listForLockHolder(lockHolderId))
    .filter((c) => c.lastV > 0)
    .map((c) => c.lastV + 1);
  const fromV = Math.max(1, Math.min(now, ...nextVs));
  const handOver = signHandOver({ newKey: fromHex(next.publicKey), fromV }, oldSecret);
  oldSecret.fill(0);
  await tx.authorities.markSuperseded(old.publicKey, now);
  const record: AuthorityRecord = { ...next, handOver: toHex(handOver) };
  await tx.authorities.insert(record);
  return record;
}

/**
 * Records which authority a claimed lock has pinned (the ingest of lock reports calls it through recordAppliedState).
 * Answers false for a lock the holder has not claimed.
 */
export async function recordReportedAuthority(
  tx: Tx,
  lockId: string,
  lockHolderId: string,
  publicKeyHex: string,
): Promise<boolean> {
  const claim = await tx.lockClaims.get(lockId, lockHolderId);
  if (!claim) return false;
  await tx.lockClaims.setReportedAuthority(lockId, lockHolderId, publicKeyHex.toLowerCase());
  return true;
}

/**
 * A claimed lock's authenticated `state_applied` report says which v it runs. Every v signed for the lock by the
 * authority of its latest state is at or above `authorityFromV`, and every v signed before by another is below it (v
 * rises per lock, docs/trust.md "The v rule"): a lock that applied such a v has pinned that authority. Recorded, the
 * hand-over leaves the lock's states and, once every lock has, a further rotation may start. Answers whether it
 * recorded something new.
 */
export async function recordAppliedState(tx: Tx, lockId: string, lockHolderId: string, v: number): Promise<boolean> {
  const claim = await tx.lockClaims.get(lockId, lockHolderId);
  if (!claim || claim.stateAuthority === null || claim.authorityFromV === null) return false;
  if (v < claim.authorityFromV || claim.reportedAuthority === claim.stateAuthority) return false;
  return recordReportedAuthority(tx, lockId, lockHolderId, claim.stateAuthority);
}
