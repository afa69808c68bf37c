import { DEFAULT_OVERLAP_SECONDS, MAX_OVERLAP_SECONDS } from "@latchkey/protocol/contracts";
import { hashSecret, secretMatches } from "../security/secrets.js";
import type { SecretHashes } from "../store/records.js";
import type { Tx } from "../store/store.js";

/**
 * Rotating a client or bridge secret (review 12.7; cloud/README.md "Rotating secrets", docs/bridge-api.md): the new
 * secret works at once, the one it replaces keeps working for an overlap so the deployment using it can be updated,
 * then stops. Only one old secret is ever kept: rotating again (or revoking) ends the one before at once. Revoking a
 * secret also ends every access token issued for it; a token issued for the old secret during the overlap never
 * outlives the overlap (auth.ts caps its expiry), so when the overlap ends by itself nothing issued under it is left.
 */

// The overlap bounds are part of the Integrator API's contract (the rotate request's schema states them).
export { DEFAULT_OVERLAP_SECONDS, MAX_OVERLAP_SECONDS };

const NO_PREVIOUS = { previousSecretHash: null, previousSecretExpiresAt: null } as const;

export interface SecretMatch {
  /** The hash of the secret that matched: tokens issued for it record it, so revoking the secret ends them. */
  hash: string;
  /** When the matched secret stops working (an old one in its overlap), or null (the current one). */
  expiresAt: number | null;
}

/** Which stored secret `secret` is at `now`, or undefined: unknown, or an old one past its overlap. */
export function matchSecret(secret: string, stored: SecretHashes, now: number): SecretMatch | undefined {
  if (secretMatches(secret, stored.secretHash)) return { hash: stored.secretHash, expiresAt: null };
  const { previousSecretHash: hash, previousSecretExpiresAt: expiresAt } = stored;
  if (hash !== null && expiresAt !== null && now < expiresAt && secretMatches(secret, hash)) return { hash, expiresAt };
  return undefined;
}

export interface SecretChange {
  /** The hashes to store. */
  next: SecretHashes;
  /** Hashes of the secrets that stop working now: every access token issued for them must end too. */
  revoked: string[];
}

/**
 * Rotates to the secret hashed `newHash`. With `overlapSeconds` 0 the current secret is revoked at once; otherwise it
 * works until `now + overlapSeconds`. An old secret still kept from an earlier rotation is revoked either way.
 */
export function rotateSecret(
  stored: SecretHashes,
  newHash: string,
  now: number,
  overlapSeconds: number,
): SecretChange & { expiresOldAt: number } {
  const revoked = stored.previousSecretHash === null ? [] : [stored.previousSecretHash];
  if (overlapSeconds === 0) {
    return {
      next: { secretHash: newHash, ...NO_PREVIOUS },
      revoked: [...revoked, stored.secretHash],
      expiresOldAt: now,
    };
  }
  const expiresOldAt = now + overlapSeconds * 1000;
  return {
    next: { secretHash: newHash, previousSecretHash: stored.secretHash, previousSecretExpiresAt: expiresOldAt },
    revoked,
    expiresOldAt,
  };
}

/** Ends the overlap now: the old secret (if one is kept) stops working. Revoking when there is none changes nothing. */
export function revokePreviousSecret(stored: SecretHashes): SecretChange {
  return {
    next: { secretHash: stored.secretHash, ...NO_PREVIOUS },
    revoked: stored.previousSecretHash === null ? [] : [stored.previousSecretHash],
  };
}

/** Ends every access token issued for a revoked secret (in the transaction that revokes it). */
export async function endTokensOf(tx: Tx, revoked: string[]): Promise<void> {
  for (const hash of revoked) await tx.tokens.deleteIssuedUnder(hash);
}

/** A stored secret and how to store its successor: a bridge's (bridges.ts) or an integrator client's. */
export interface SecretHolder {
  stored: SecretHashes;
  save(next: SecretHashes): Promise<void>;
}

export const storedIn = (stored: SecretHashes, save: SecretHolder["save"]): SecretHolder => ({ stored, save });

/**
 * Rotates the holder's secret to `secret` (`overlapSeconds` as rotateSecret; absent, a day), ending the tokens of
 * the secrets that stop working in the same transaction. Answers when the replaced secret stops working.
 */
export async function rotateStoredSecret(
  tx: Tx,
  holder: SecretHolder,
  secret: string,
  now: number,
  overlapSeconds = DEFAULT_OVERLAP_SECONDS,
): Promise<number> {
  const change = rotateSecret(holder.stored, hashSecret(secret), now, overlapSeconds);
  await holder.save(change.next);
  await endTokensOf(tx, change.revoked);
  return change.expiresOldAt;
}

/** revokePreviousSecret, stored, with the old secret's tokens ended. */
export async function revokeStoredPrevious(tx: Tx, holder: SecretHolder): Promise<void> {
  const change = revokePreviousSecret(holder.stored);
  await holder.save(change.next);
  await endTokensOf(tx, change.revoked);
}
