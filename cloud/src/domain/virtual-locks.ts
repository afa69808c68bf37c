import {
  ClaimLabel,
  decodeSign1,
  decodeStrict,
  fromBase64Url,
  fromHex,
  NONCE_BYTES,
  NonceBook,
  StateRevocations,
  TrustStore,
  toBase64Url,
  toHex,
  verifyUnlockRequest,
} from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import type { LockRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { commit } from "./commit.js";
import { forbidden, invalid, notFound } from "./errors.js";
import { storeLockEvent } from "./events.js";
import { storeVirtualBattery } from "./virtual-battery.js";

/**
 * Cloud-hosted test locks that open for real: the same challenge and `verifyUnlockRequest` decision a lock makes,
 * producing real events (denied ones too) and so real webhooks, without hardware. Challenges are stored, so any cloud
 * process can check one that another handed out.
 */

/** Codes reported after the signature was verified: the token's cti is authentic and names the key in the event. */
const SIGNED_FAILURES = new Set([
  "missing_claim",
  "wrong_lock",
  "not_yet_valid",
  "expired",
  "revoked",
  "no_timezone",
  "outside_schedule",
  "bad_proof",
]);

function signedCti(token: Uint8Array): string | null {
  try {
    const claims = decodeStrict(decodeSign1(token).payload);
    const cti = claims instanceof Map ? claims.get(ClaimLabel.cti) : undefined;
    return cti instanceof Uint8Array && cti.length === 16 ? toHex(cti) : null;
  } catch {
    return null;
  }
}

/**
 * The virtual lock `lockId`, for a user who holds a key for it (one prefetch would hand them: not ended, not revoked).
 * Anyone else may not ask it for challenges nor make it record `denied` events that fire its tenant's webhooks
 * (review 12.9), and is answered exactly as for a lock id that does not exist, so nothing about the lock leaks.
 */
async function virtualLockFor(tx: Tx, lockId: string, userId: string, nowMs: number): Promise<LockRecord> {
  const lock = await tx.locks.get(lockId);
  if (lock?.vendor !== "virtual" || lock.removedAt !== null) throw notFound("virtual lock");
  const held = await tx.keys.usableForUser(userId, nowMs);
  if (!held.some((k) => k.lockId === lock.id)) throw notFound("virtual lock");
  return lock;
}

function bytesField(value: string, field: string): Uint8Array {
  try {
    return fromBase64Url(value);
  } catch {
    throw invalid(`body.${field}: not base64url`);
  }
}

/** Outstanding challenges kept per lock, as a lock keeps only so many (the oldest go first). */
const NONCES_PER_LOCK = 64;

/** A single-use challenge from the virtual lock `lockId`, for a user who holds a key for it (base64url). */
export async function challengeVirtualLock(ctx: CloudContext, lockId: string, userId: string): Promise<string> {
  const nonce = ctx.random(NONCE_BYTES);
  await commit(ctx, async (tx) => {
    const lock = await virtualLockFor(tx, lockId, userId, ctx.clock.now());
    await storeVirtualBattery(tx, ctx, lock, ctx.clock.now());
    await tx.nonces.issue(lock.id, toHex(nonce), ctx.clock.now(), NONCES_PER_LOCK);
  });
  return toBase64Url(nonce);
}

/**
 * Unlocks the virtual lock `lockId` with a key token and proof over a challenge, verified exactly as a lock would.
 * The event (unlocked or denied) is stored either way; a refusal then throws 403 with the verification's code.
 */
export async function unlockVirtualLock(
  ctx: CloudContext,
  lockId: string,
  userId: string,
  body: { token: string; proof: string; nonce: string },
): Promise<string> {
  const token = bytesField(body.token, "token");
  const proof = bytesField(body.proof, "proof");
  const nonce = bytesField(body.nonce, "nonce");
  const { verdict, eventId } = await commit(ctx, async (tx) => {
    const nowMs = ctx.clock.now();
    const lock = await virtualLockFor(tx, lockId, userId, nowMs);
    await storeVirtualBattery(tx, ctx, lock, nowMs);
    // The stored challenge, consumed in this transaction, goes through the lock's own nonce rules (NonceBook).
    const nonces = new NonceBook();
    const issuedAt = await tx.nonces.consume(lock.id, toHex(nonce));
    if (issuedAt !== undefined && nonce.length === NONCE_BYTES) nonces.issue(nonce, issuedAt);
    const issuers = await tx.issuerKeys.listLive([lock.lockHolderId]);
    const trust = new TrustStore(
      issuers.map((k) => ({ kid: Buffer.from(k.kid, "hex"), publicKey: Buffer.from(k.publicKey, "hex") })),
    );
    // The same entries the lock's signed state carries: an edited key's `before` refuses only its older tokens.
    const revoked = new StateRevocations({
      revoked: (await tx.keys.revokedForLock(lock.id, lock.lockHolderId)).map((r) => ({
        cti: fromHex(r.cti),
        ...(r.before !== undefined ? { before: r.before } : {}),
      })),
    });
    const verdict = verifyUnlockRequest(
      { token, proof, nonce },
      {
        trust,
        lockId: lock.id,
        now: Math.floor(nowMs / 1000),
        revoked,
        nonces,
        nowMs,
        // A recurring key is read in the lock's own zone, as a real lock reads it in its signed state's tz.
        ...(lock.timezone ? { timeZone: lock.timezone } : {}),
      },
    );
    const cti = verdict.ok ? toHex(verdict.claims.cti) : SIGNED_FAILURES.has(verdict.code) ? signedCti(token) : null;
    const eventId = toHex(ctx.random(16));
    await storeLockEvent(tx, ctx, lock, {
      id: eventId,
      seq: await tx.locks.nextEventSeq(lock.id),
      tsS: Math.floor(nowMs / 1000),
      type: verdict.ok ? "unlocked" : "denied",
      cti,
      code: verdict.ok ? null : verdict.code,
      dropped: null,
      v: null,
    });
    return { verdict, eventId };
  });
  if (!verdict.ok) throw forbidden(verdict.message, verdict.code);
  return eventId;
}
