import { createHash } from "node:crypto";
import {
  fromHex,
  ProtocolError,
  pinTag,
  type SignedLockState,
  type StateIssuer,
  signLockState,
  toHex,
} from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import type {
  AuthorityRecord,
  IssuerKeyRecord,
  LockClaimRecord,
  RevokedKeyRecord,
  SignedStateRecord,
} from "../store/records.js";
import type { Tx } from "../store/store.js";
import { authorityFor, authoritySecret } from "./authority.js";
import { claimSecretOf, MAX_SIGNED_VS } from "./claims.js";
import { RETIRE_LEEWAY_S } from "./issuers.js";
import { reportKey, reportKeyForState } from "./report-key.js";

/** A cached state older than this is signed again on fetch (docs/design.md section 7). */
export const STATE_MAX_AGE_MS = 3_600_000;
/** The most issuers a state carries (docs/trust.md): the newest ones. */
const MAX_STATE_ISSUERS = 16;
const DAY_S = 86_400;

/**
 * The trusted-until of each issuer key a state names (docs/trust.md "Applying a state"): a rotated key's latest token
 * exp (it signs no more); the signing key's latest token exp or the longest a token minted now may live, rounded up to
 * a whole day so the document does not change (and need signing again) every second.
 */
function stateIssuers(ctx: CloudContext, keys: IssuerKeyRecord[]): StateIssuer[] {
  const nowS = Math.floor(ctx.clock.now() / 1000);
  const horizon = Math.ceil((nowS + ctx.settings.maxTokenLifetimeSeconds) / DAY_S) * DAY_S;
  return keys
    .filter((k) => k.retiredAt === null)
    .slice(-MAX_STATE_ISSUERS)
    .map((k) => ({
      kid: fromHex(k.kid),
      x: fromHex(k.publicKey),
      notAfter: k.rotatedAt === null ? Math.max(k.maxTokenExpS, horizon) : k.maxTokenExpS,
    }));
}

/**
 * A revocation made before `minIat`'s second is covered by it: every token of that key was minted before the key was
 * revoked, so its `iat` is below `minIat` and the lock refuses it without the entry.
 */
const uncovered = (revoked: RevokedKeyRecord[], minIat: number | null) =>
  minIat === null ? revoked : revoked.filter((r) => r.revokedAt >= minIat * 1000);

/**
 * A revoked key none of whose tokens can still open needs no entry: every token it had expired more than the leeway
 * ago (review 12.1 records the latest exp minted per key), and a lock refuses an expired token on its own, checking
 * `exp` against its clock plus its uncertainty (docs/trust.md "Time"). A key without a recorded exp keeps its entry.
 */
const unexpired = (revoked: RevokedKeyRecord[], nowS: number) =>
  revoked.filter((r) => r.maxTokenExpS === null || r.maxTokenExpS + RETIRE_LEEWAY_S > nowS);

interface StateInputs {
  authority: AuthorityRecord;
  state: Omit<SignedLockState, "v" | "iat">;
  handOver: string | null;
}

async function gather(tx: Tx, ctx: CloudContext, claim: LockClaimRecord, minIat: number | null): Promise<StateInputs> {
  const authority = await authorityFor(tx, ctx, claim.lockHolderId);
  const lock = await tx.locks.get(claim.lockId);
  const own = lock && lock.lockHolderId === claim.lockHolderId && lock.removedAt === null ? lock : undefined;
  const nowS = Math.floor(ctx.clock.now() / 1000);
  // The holder's own revocations only: a lock pinned to this authority trusts no other holder's issuer, so another
  // holder's keys (ended when its claim was dropped or the lock left its connection) need no entry, and its state
  // says nothing of other tenants.
  const revoked = uncovered(unexpired(await tx.keys.revokedForLock(claim.lockId, claim.lockHolderId), nowS), minIat);
  const state: Omit<SignedLockState, "v" | "iat"> = {
    lock: claim.lockId,
    issuers: stateIssuers(ctx, await tx.issuerKeys.list(claim.lockHolderId)),
    // A revoked key's entry is whole; a narrowing edit keeps the key's cti, so its entry refuses only the tokens
    // minted before the edit (`before`), and the re-minted ones open (docs/design.md section 4 "Editing a key").
    revoked: revoked.map((r) => ({ cti: fromHex(r.cti), ...(r.before !== undefined ? { before: r.before } : {}) })),
    // Only events that arrived as verified reports move the ack (docs/reports.md "Cloud"): nothing a gateway says
    // does, so a gateway cannot make the cloud sign an ack that frees events the cloud never received.
    ack: own ? ((await tx.lockReports.get(claim.lockId))?.ackSeq ?? 0) : 0,
    ...(claim.maxStaleS !== null ? { maxStale: claim.maxStaleS } : {}),
    ...(own?.timezone ? { tz: own.timezone } : {}),
    ...(minIat !== null ? { minIat } : {}),
    reportKey: reportKeyForState(await reportKey(tx, ctx)),
  };
  // The hand-over rides in every state of the new authority until this lock reports it has pinned the new key.
  const handOver =
    authority.handOver !== null && claim.reportedAuthority !== authority.publicKey ? authority.handOver : null;
  return { authority, state, handOver };
}

/** What decides whether the cached document still says the right thing: everything but `v` and `iat`. */
function digestOf(inputs: StateInputs): string {
  const s = inputs.state;
  const canonical = JSON.stringify([
    inputs.authority.publicKey,
    inputs.handOver,
    s.lock,
    s.issuers.map((i) => [toHex(i.kid), toHex(i.x), i.notAfter]),
    s.revoked.map((r) => [toHex(r.cti), r.before ?? null]),
    s.ack,
    s.maxStale ?? null,
    s.tz ?? null,
    s.minIat ?? null,
    toHex(s.reportKey.id),
    toHex(s.reportKey.x),
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}

/**
 * `v = max(previous + 1, cloud time in ms)` (docs/trust.md "Cloud"): new for every signature, strictly above every v
 * this database has handed out even when the clock goes back, and, after a restore from a copy, above every v handed
 * out since the copy as long as the cloud's clock now is past the time (in ms) of the last signature before the
 * restore.
 */
export const nextV = (lastV: number, nowMs: number) => Math.max(lastV + 1, nowMs);

function sign(ctx: CloudContext, claim: LockClaimRecord, inputs: StateInputs, lastV: number): SignedStateRecord {
  const now = ctx.clock.now();
  const v = nextV(lastV, now);
  const iat = Math.floor(now / 1000);
  const secretKey = authoritySecret(ctx, inputs.authority);
  const claimSecret = claimSecretOf(ctx, claim);
  try {
    const doc = signLockState(
      { ...inputs.state, v, iat },
      {
        secretKey,
        pinTag: pinTag(claimSecret, claim.lockId, fromHex(inputs.authority.publicKey)),
        ...(inputs.handOver !== null ? { handOver: fromHex(inputs.handOver) } : {}),
      },
    );
    return { doc: toHex(doc), v, iat, digest: digestOf(inputs), authority: inputs.authority.publicKey };
  } finally {
    secretKey.fill(0);
    claimSecret.fill(0);
  }
}

const tooLarge = (e: unknown) => e instanceof ProtocolError && e.code === "too_large";

/**
 * The latest signed state of a claimed lock: the cached one while it is under an hour old and still says the right
 * thing, else a fresh signature (cached). When the revocations would not fit the 3.5 KiB cap, sets the lock's
 * `minIat` to this second and drops the revocations it covers; every prefetch mints its tokens afresh (iat = now), so
 * the phones' live tokens of that lock are re-minted at their next prefetch and open again. Runs inside the caller's
 * transaction (it may write the cache).
 */
export async function latestLockState(tx: Tx, ctx: CloudContext, claim: LockClaimRecord): Promise<SignedStateRecord> {
  const now = ctx.clock.now();
  let minIat = claim.minIat;
  let inputs = await gather(tx, ctx, claim, minIat);
  const digest = digestOf(inputs);
  if (
    claim.stateDoc !== null &&
    claim.stateV !== null &&
    claim.stateIat !== null &&
    claim.stateDigest === digest &&
    now - claim.stateIat * 1000 < STATE_MAX_AGE_MS &&
    now >= claim.stateIat * 1000
  ) {
    // The digest covers the authority's key: a cached state still matching it was signed by that authority.
    return { doc: claim.stateDoc, v: claim.stateV, iat: claim.stateIat, digest, authority: inputs.authority.publicKey };
  }
  // v rises per lock id across every holder's claim of it, so a v names the one claim it was signed for: the lock's
  // `state_applied` report of it confirms that claim and no other (domain/claims.ts confirmClaim).
  const lastV = Math.max(claim.lastV, await tx.lockClaims.lastV(claim.lockId));
  let signed: SignedStateRecord;
  try {
    signed = sign(ctx, claim, inputs, lastV);
  } catch (e) {
    if (!tooLarge(e)) throw e;
    minIat = Math.max(minIat ?? 0, Math.floor(now / 1000));
    await tx.lockClaims.setMinIat(claim.lockId, claim.lockHolderId, minIat);
    inputs = await gather(tx, ctx, claim, minIat);
    signed = sign(ctx, claim, inputs, lastV);
  }
  const signedVs = claim.confirmedAt === null ? [...claim.signedVs, signed.v].slice(-MAX_SIGNED_VS) : [];
  await tx.lockClaims.saveState(claim.lockId, claim.lockHolderId, signed, signedVs);
  return signed;
}
