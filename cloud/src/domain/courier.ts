import { decodeTimeRequest, fromBase64Url, ProtocolError, signTimeAnswer } from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import type { LockClaimRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { authorityFor, authoritySecret } from "./authority.js";
import { notFound, unprocessable } from "./errors.js";
import { latestLockState } from "./lock-state.js";

/** What a bridge carries to its locks: signed states and signed time (docs/bridge-api.md, docs/trust.md "Cloud"). */

/**
 * The claim of a lock this bridge serves: the lock is under one of the bridge's live vendor connections and claimed by
 * that connection's lock holder (pending or confirmed: the state signed for a pending claim is how the lock proves
 * it). Anything else is 404, as if the lock did not exist (no other tenant is revealed, nor any other claim).
 */
async function servedClaim(tx: Tx, bridgeId: string, lockId: string): Promise<LockClaimRecord> {
  const lock = await tx.locks.get(lockId);
  const vc = lock && lock.removedAt === null ? await tx.vendorConnections.get(lock.vendorConnectionId) : undefined;
  const claim =
    lock && vc && vc.bridgeId === bridgeId && vc.deletedAt === null
      ? await tx.lockClaims.get(lockId, lock.lockHolderId)
      : undefined;
  if (!claim) throw notFound(`lock ${JSON.stringify(lockId)}`);
  return claim;
}

/** The latest signed state of a claimed lock the bridge serves (signed again when stale or changed: lock-state.ts). */
export async function servedLockState(tx: Tx, ctx: CloudContext, bridgeId: string, lockId: string) {
  return latestLockState(tx, ctx, await servedClaim(tx, bridgeId, lockId));
}

/**
 * The cloud's time, signed by the lock holder's authority for the nonce of the lock's own time request (`request`,
 * base64url of `{1: lock, 2: nonce}`); 422 `invalid_message` when it does not decode, `wrong_lock` when it names
 * another lock than `lockId`.
 */
export async function answerLockTime(
  tx: Tx,
  ctx: CloudContext,
  bridgeId: string,
  lockId: string,
  request: string,
): Promise<Uint8Array> {
  const claim = await servedClaim(tx, bridgeId, lockId);
  let timeRequest: ReturnType<typeof decodeTimeRequest>;
  try {
    timeRequest = decodeTimeRequest(fromBase64Url(request));
  } catch (e) {
    const why = e instanceof ProtocolError ? e.message : "not base64url";
    throw unprocessable(`request: not a time request (${why})`, "invalid_message");
  }
  if (timeRequest.lock !== lockId) throw unprocessable("request: it names another lock", "wrong_lock");
  const authority = await authorityFor(tx, ctx, claim.lockHolderId);
  const secretKey = authoritySecret(ctx, authority);
  try {
    return signTimeAnswer({ lock: lockId, nonce: timeRequest.nonce, time: ctx.clock.now() }, secretKey);
  } finally {
    secretKey.fill(0);
  }
}
