import type { Page, PageRequest } from "../store/records.js";

/** The most items one page holds, and the size of a page when the caller names none (contracts' `PageQuery`). */
export const PAGE_LIMIT = 2500;

/** A list's `limit` and `startAfterId` query (contracts' `PageQuery`), as the store pages by id. */
export const pageRequest = (q: { limit?: number | undefined; startAfterId?: string | undefined }): PageRequest => ({
  limit: q.limit ?? PAGE_LIMIT,
  startAfterId: q.startAfterId,
});

/** A page as a list answers it: the items, seen as the API shows them, under `name`; `startAfterId` while more remains. */
export function pageAnswer<K extends string, T, V>(
  name: K,
  page: Page<T>,
  view: (item: T) => V,
): { [k in K]: V[] } & { startAfterId?: string } {
  return {
    [name]: page.items.map((item) => view(item)),
    ...(page.startAfterId ? { startAfterId: page.startAfterId } : {}),
  } as { [k in K]: V[] } & { startAfterId?: string };
}
