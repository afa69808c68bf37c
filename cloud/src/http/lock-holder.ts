import type { CloudContext } from "../context.js";
import { lockHolderFor } from "../domain/access.js";
import { commit, read } from "../domain/commit.js";
import type { LockHolderRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { integratorOf, type Principal } from "./auth.js";

/** A request on `/integrators/v1/lock-holders/:lockHolderId/…`, past the auth hook. */
export interface LockHolderRequest {
  principal?: Principal;
  params: { lockHolderId: string };
}

export type Work<T> = (tx: Tx, lh: LockHolderRecord) => Promise<T>;

/**
 * The routes under a lock holder: the caller must be an integrator (403 otherwise) that may see the lock holder the
 * path names (404 otherwise, as if it did not exist: domain/access.ts). The lock holder is read in the transaction
 * of the work that uses it, so a concurrent change to it (an authority rotation, a new country) cannot come between
 * the read and the write.
 */
export function lockHolderScope(ctx: CloudContext) {
  const within =
    (run: typeof read) =>
    <T>(request: LockHolderRequest, work: Work<T>): Promise<T> =>
      run(ctx, async (tx) => work(tx, await lockHolderFor(tx, integratorOf(request), request.params.lockHolderId)));
  return {
    /** The lock holder alone, for work that runs its own transactions (scrypt must not hold the store). */
    get: (request: LockHolderRequest): Promise<LockHolderRecord> =>
      read(ctx, (tx) => lockHolderFor(tx, integratorOf(request), request.params.lockHolderId)),
    /** Reads in one transaction, given the lock holder. */
    read: within(read),
    /** Writes in one transaction, given the lock holder, and wakes whoever waits on the write (domain/commit.ts). */
    commit: within(commit),
  };
}

export type LockHolderScope = ReturnType<typeof lockHolderScope>;
