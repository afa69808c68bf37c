import { type EventFilterQuery, KEY_EVENT_TYPES, parseRfc3339, type Rfc3339Time } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../context.js";
import type { LockHolderRecord } from "../store/records.js";
import type { EventPageRequest, Tx } from "../store/store.js";
import { invalid } from "./errors.js";
import { pageAnswer, pageRequest } from "./pages.js";
import { toE164 } from "./phone.js";
import { keyEventView } from "./views.js";

/** The first whole second at or after `t`: events carry whole seconds, so `from`/`to` compare against this. */
const ceilSeconds = (t: Rfc3339Time) => t.seconds + (t.fraction ? 1 : 0);

function time(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const parsed = parseRfc3339(text);
  if (!parsed) throw invalid(`query.${name}: must be an RFC 3339 date-time with offset, e.g. 2026-12-07T10:00:00Z`);
  return ceilSeconds(parsed);
}

/** A key holder's number as events store it (E.164); a 400 naming `query.<name>` when it is no phone number. */
export function userIdFilter(userId: string | undefined, lh: LockHolderRecord, name = "userId"): string | undefined {
  if (userId === undefined) return undefined;
  const e164 = toE164(userId, lh.countryIso);
  if (!e164) throw invalid(`query.${name}: ${JSON.stringify(userId)} is not a valid phone number`);
  return e164;
}

/**
 * The store's page request for a lock holder's key events (docs/design.md section 4): the newest
 * `eventWindowDays` always bound it; `from` (included) and `to` (not included) narrow it; the other filters match
 * exactly. `scope` is what the path fixes (`…/locks/{lockId}/events`, `…/keys/{keyId}/events`).
 */
/** One lock's or one key's events only, where the path names it. */
export type EventScope = { lockId?: string; keyId?: string };

export function eventPageRequest(
  ctx: CloudContext,
  lh: LockHolderRecord,
  q: EventFilterQuery,
  scope: EventScope = {},
): EventPageRequest {
  const windowS = Math.floor(ctx.clock.now() / 1000) - ctx.settings.eventWindowDays * 86_400;
  const fromS = time(q.from, "from");
  const untilS = time(q.to, "to");
  // Compared in the whole seconds events carry: a `from` and `to` within one second simply match nothing.
  if (fromS !== undefined && untilS !== undefined && fromS > untilS) {
    throw invalid(`query.from: ${q.from} is after query.to (${q.to})`);
  }
  return {
    ...pageRequest(q),
    sinceS: Math.max(windowS, fromS ?? windowS),
    untilS,
    types: q.action === undefined ? KEY_EVENT_TYPES : [q.action],
    lockId: scope.lockId ?? q.lockId,
    keyId: scope.keyId ?? q.keyId,
    userId: userIdFilter(q.userId, lh),
  };
}

/** One page of key events as the API shows them, with each lock's name and each key's holder name. */
export async function keyEventPage(tx: Tx, lh: LockHolderRecord, request: EventPageRequest) {
  const page = await tx.events.listForLockHolder(lh.id, request);
  const lockNames = new Map<string, string>();
  for (const e of page.items) {
    if (!lockNames.has(e.lockId)) lockNames.set(e.lockId, (await tx.locks.get(e.lockId))?.name ?? e.lockId);
  }
  const keyIds = [...new Set(page.items.flatMap((e) => (e.keyId === null ? [] : [e.keyId])))];
  const userNames = new Map((await tx.keys.getMany(keyIds)).map((k) => [k.id, k.userName]));
  return pageAnswer("events", page, (e) =>
    keyEventView(e, lockNames.get(e.lockId) ?? e.lockId, e.keyId === null ? null : (userNames.get(e.keyId) ?? null)),
  );
}
