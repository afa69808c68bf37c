import { fromHex, keyPairFromSeed, signKeyToken, toHex } from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import { FeedWriter } from "../feed/changes.js";
import type { IssuerKeyRecord, KeyRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { scheduleOf } from "./recurrence.js";

/** How long past its last token's expiry a rotated key stays trusted: covers the locks' verification leeway. */
export const RETIRE_LEEWAY_S = 120;

const sealContext = (kid: string) => `issuer-key:${kid}`;

/** A fresh issuer key for a lock holder: kid is 8 random bytes, the private key sealed under the master key. */
export function newIssuerKey(ctx: CloudContext, lockHolderId: string): IssuerKeyRecord {
  const kid = toHex(ctx.random(8));
  const { secretKey, publicKey } = keyPairFromSeed(ctx.random(32));
  return {
    kid,
    lockHolderId,
    publicKey: toHex(publicKey),
    secretSealed: ctx.sealer.seal(secretKey, sealContext(kid)),
    createdAt: ctx.clock.now(),
    rotatedAt: null,
    maxTokenExpS: 0,
    retiredAt: null,
  };
}

export async function addIssuerKey(tx: Tx, ctx: CloudContext, lockHolderId: string): Promise<IssuerKeyRecord> {
  const key = newIssuerKey(ctx, lockHolderId);
  await tx.issuerKeys.insert(key);
  await new FeedWriter(tx, ctx).issuer(key);
  return key;
}

/** The old key stops signing at once but stays trusted until every token it signed has expired. */
export async function rotateIssuerKey(tx: Tx, ctx: CloudContext, lockHolderId: string): Promise<IssuerKeyRecord> {
  const current = await tx.issuerKeys.active(lockHolderId);
  if (current) await tx.issuerKeys.markRotated(current.kid, ctx.clock.now());
  return addIssuerKey(tx, ctx, lockHolderId);
}

/**
 * Stops trusting a key now, e.g. after a leak (review 12.6): retired at once and put on the feed, so every lock drops
 * it at its next sync and its tokens are refused (`unknown_issuer`). A key that still signs is rotated out first, and
 * the next prefetch mints every key's tokens under the current key. Answers the retired key, or undefined when the
 * lock holder has no such key; a key already retired is answered as it is.
 */
export async function retireIssuerKeyNow(
  tx: Tx,
  ctx: CloudContext,
  lockHolderId: string,
  kid: string,
): Promise<IssuerKeyRecord | undefined> {
  const key = (await tx.issuerKeys.list(lockHolderId)).find((k) => k.kid === kid);
  if (!key || key.retiredAt !== null) return key;
  const now = ctx.clock.now();
  if (key.rotatedAt === null) await rotateIssuerKey(tx, ctx, lockHolderId);
  await tx.issuerKeys.markRetired(kid, now);
  const retired: IssuerKeyRecord = { ...key, rotatedAt: key.rotatedAt ?? now, retiredAt: now };
  await new FeedWriter(tx, ctx).issuer(retired);
  return retired;
}

/** Retires rotated keys none of whose tokens can still be valid; tells bridges. Answers how many. */
export async function retireExpiredIssuerKeys(tx: Tx, ctx: CloudContext): Promise<number> {
  const now = ctx.clock.now();
  const due = await tx.issuerKeys.retirable(Math.floor(now / 1000), RETIRE_LEEWAY_S);
  const feed = new FeedWriter(tx, ctx);
  for (const key of due) {
    await tx.issuerKeys.markRetired(key.kid, now);
    await feed.issuer({ ...key, retiredAt: now });
  }
  return due.length;
}

export interface MintedToken {
  token: Uint8Array;
  kid: string;
  expS: number;
}

/**
 * A token's `nbf` and `exp` if minted now: `exp` is the key's end or, for a key without end, `openEndedTokenSeconds`
 * past now or its start, whichever is later; never more than `maxTokenLifetimeSeconds` past now (review 12.6). Null
 * when the key starts beyond that horizon: such a token could never be valid, and a later prefetch mints it.
 */
export function tokenWindow(ctx: CloudContext, key: KeyRecord): { nbf: number; expS: number } | null {
  const nowS = Math.floor(ctx.clock.now() / 1000);
  const nbf = Math.floor(key.startAt / 1000);
  const natural =
    key.endAt !== null ? Math.floor(key.endAt / 1000) : Math.max(nowS, nbf) + ctx.settings.openEndedTokenSeconds;
  const expS = Math.min(natural, nowS + ctx.settings.maxTokenLifetimeSeconds);
  return expS > nbf ? { nbf, expS } : null;
}

/**
 * Mints a key token for one device (docs/design.md section 2): `cnf` is the device's key, `cti` the key's own id shared by
 * every token of that key, `nbf`/`exp` from `tokenWindow` (the app re-prefetches before `exp`). Call it only for a key
 * whose `tokenWindow` is not null.
 */
export async function mintKeyToken(
  tx: Tx,
  ctx: CloudContext,
  key: KeyRecord,
  devicePublicKey: Uint8Array,
): Promise<MintedToken> {
  const issuer = await tx.issuerKeys.active(key.lockHolderId);
  if (!issuer) throw new Error(`lock holder ${key.lockHolderId} has no issuer key`);
  const nowS = Math.floor(ctx.clock.now() / 1000);
  const window = tokenWindow(ctx, key);
  if (!window) throw new Error(`key ${key.id} starts beyond the token lifetime cap; nothing to mint yet`);
  const { nbf, expS } = window;
  const secretKey = ctx.sealer.open(issuer.secretSealed, sealContext(issuer.kid));
  const token = signKeyToken(
    {
      iss: ctx.settings.issuerName,
      sub: key.userId,
      aud: key.lockId,
      exp: expS,
      nbf,
      // Never below the key's revokeBefore: a token minted in the second of a narrowing edit, after it, must open
      // (docs/design.md section 4 "Editing a key"). iat is compared with nothing but revocations and minIat.
      iat: Math.max(nowS, key.revokeBefore ?? 0),
      cti: fromHex(key.cti),
      cnf: devicePublicKey,
      // The lock enforces it offline, in its own timezone (docs/design.md section 2 "Schedule").
      ...(key.recurrence ? { sched: scheduleOf(key.recurrence) } : {}),
    },
    { kid: fromHex(issuer.kid), secretKey },
  );
  secretKey.fill(0);
  await tx.issuerKeys.raiseMaxTokenExp(issuer.kid, expS);
  // The key's revocation must outlive this token (review 12.1): the feed carries the latest exp to the bridge.
  await tx.keys.raiseMaxTokenExp(key.id, expS);
  return { token, kid: issuer.kid, expS };
}
