import type { CloudContext } from "../context.js";
import type { EventRecord, LockRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { keyEventView } from "./views.js";

/** Key events: what a door did for (or refused to) a person. Lock housekeeping (sync, clock, battery) is not one. */
export const KEY_EVENT_TYPES = ["unlocked", "denied", "locked", "jammed"] as const;
const KEY_EVENT_SET = new Set<string>(KEY_EVENT_TYPES);

export const WEBHOOK_EVENT_TYPE = "key_event.created";

export interface IncomingEvent {
  id: string;
  seq: number;
  tsS: number;
  type: string;
  cti: string | null;
  code: string | null;
  dropped: number | null;
  v: number | null;
}

/**
 * Stores a lock event once (its id is the idempotency key) and, for a key event, queues one webhook delivery per live
 * webhook of the lock holder in the same transaction: the event and its deliveries are durable together, and
 * sending happens later in the webhook worker, never in the request that brought the event.
 */
export async function storeLockEvent(
  tx: Tx,
  ctx: CloudContext,
  lock: LockRecord,
  incoming: IncomingEvent,
): Promise<boolean> {
  const key = incoming.cti === null ? undefined : await tx.keys.getByCti(incoming.cti);
  // A cti of another lock holder's key is recorded as given, but never linked to (and never reveals) that key.
  const ownKey = key && key.lockHolderId === lock.lockHolderId ? key : undefined;
  const now = ctx.clock.now();
  const event: EventRecord = {
    id: incoming.id,
    lockHolderId: lock.lockHolderId,
    lockId: lock.id,
    seq: incoming.seq,
    tsS: incoming.tsS,
    type: incoming.type,
    cti: incoming.cti,
    keyId: ownKey?.id ?? null,
    userId: ownKey?.userId ?? null,
    code: incoming.code,
    dropped: incoming.dropped,
    v: incoming.v,
    receivedAt: now,
  };
  const isNew = await tx.events.insertIfNew(event);
  if (!isNew || !KEY_EVENT_SET.has(event.type)) return isNew;
  const webhooks = await tx.webhooks.liveForLockHolder(lock.lockHolderId);
  if (webhooks.length === 0) return true;
  const payload = JSON.stringify({
    type: WEBHOOK_EVENT_TYPE,
    timestamp: new Date(now).toISOString(),
    data: keyEventView(event, lock.name),
  });
  for (const webhook of webhooks) {
    await tx.deliveries.insert({
      id: ctx.ids.next("msg"),
      webhookId: webhook.id,
      eventType: WEBHOOK_EVENT_TYPE,
      payload,
      status: "pending",
      attempts: 0,
      nextAttemptAt: now,
      lastError: null,
      createdAt: now,
      deliveredAt: null,
    });
  }
  return true;
}
