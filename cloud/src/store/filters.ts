import type { EventPageRequest, KeyFilter } from "./store.js";

/**
 * The conditions of filtered lists: `param` takes a value and answers its placeholder (`?`, see sql.ts). Each filter is there or not, so a list has a bounded number of statement
 * texts (each prepared once per connection), and each shape has an index that reads the page in order (migration 9).
 */
export type Param = (value: unknown) => string;

/** Keys matching `filter`; the state's conditions mirror domain/keys.ts keyState exactly. */
export function keyConditions(filter: KeyFilter, param: Param): string[] {
  const where: string[] = [];
  if (filter.lockId !== undefined) where.push(`lock_id = ${param(filter.lockId)}`);
  if (filter.userId !== undefined) where.push(`user_id = ${param(filter.userId)}`);
  const state = filter.state;
  if (state === undefined) return where;
  switch (state.name) {
    case "creating":
    case "error":
    case "revoked":
      where.push(`status = ${param(state.name)}`);
      break;
    case "expired":
      where.push(`status = 'created' AND end_at IS NOT NULL AND end_at <= ${param(state.now)}`);
      break;
    // A placeholder per use: `?` is one value each time it appears.
    case "scheduled":
      where.push(
        `status = 'created' AND (end_at IS NULL OR end_at > ${param(state.now)}) AND start_at > ${param(state.now)}`,
      );
      break;
    case "active":
      where.push(
        `status = 'created' AND (end_at IS NULL OR end_at > ${param(state.now)}) AND start_at <= ${param(state.now)}`,
      );
      break;
  }
  return where;
}

/** Events matching the page's optional filters (the lock holder, window start and types are each dialect's own). */
export function eventConditions(page: EventPageRequest, param: Param): string[] {
  const where: string[] = [];
  if (page.untilS !== undefined) where.push(`ts_s < ${param(page.untilS)}`);
  if (page.lockId !== undefined) where.push(`lock_id = ${param(page.lockId)}`);
  if (page.keyId !== undefined) where.push(`key_id = ${param(page.keyId)}`);
  if (page.userId !== undefined) where.push(`user_id = ${param(page.userId)}`);
  return where;
}
