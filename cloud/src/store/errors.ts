/** A `startAfterId` that names nothing in the listed collection: the caller answers 400. */
export class UnknownCursorError extends Error {
  constructor(readonly cursor: string) {
    super(`startAfterId "${cursor}" is not an item of this list`);
    this.name = "UnknownCursorError";
  }
}

/**
 * Concurrent transactions kept conflicting (PostgreSQL serialization failures or deadlocks) past the store's own
 * retries. Transient: nothing was written, and the same work may succeed when tried again later; a worker must not
 * take it for a verdict on the work (a batch job is not failed for it).
 */
export class StoreConflictError extends Error {
  constructor(attempts: number, cause: unknown) {
    super(`the transaction conflicted with concurrent ones ${attempts} times`, { cause });
    this.name = "StoreConflictError";
  }
}
