import { KEY_EVENT_TYPES } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../context.js";
import type { DeliveryRecord, EventRecord, LockRecord, WebhookRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { keyEventView } from "./views.js";

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
 * Stores lock events once each (an event's id is its idempotency key) and, for each new key event, queues one webhook
 * delivery per live webhook of the lock holder in the same transaction: an event and its deliveries are durable
 * together, and sending happens later in the webhook worker, never in the request that brought the event. Set-based
 * (a few statements per batch, not a few per event): a bridge uploads up to 1000 at a time. Answers the ids stored.
 */
export async function storeLockEvents(
  tx: Tx,
  ctx: CloudContext,
  incoming: readonly { lock: LockRecord; event: IncomingEvent }[],
): Promise<Set<string>> {
  const ctis = [...new Set(incoming.flatMap(({ event }) => (event.cti === null ? [] : [event.cti])))];
  const keys = new Map((await tx.keys.getManyByCti(ctis)).map((k) => [k.cti, k]));
  const now = ctx.clock.now();
  const userNames = new Map<string, string>();
  const records = incoming.map(({ lock, event }): EventRecord => {
    const key = event.cti === null ? undefined : keys.get(event.cti);
    // A cti of another lock holder's key is recorded as given, but never linked to (and never reveals) that key.
    const ownKey = key && key.lockHolderId === lock.lockHolderId ? key : undefined;
    if (ownKey?.userName) userNames.set(event.id, ownKey.userName);
    return {
      id: event.id,
      lockHolderId: lock.lockHolderId,
      lockId: lock.id,
      seq: event.seq,
      tsS: event.tsS,
      type: event.type,
      cti: event.cti,
      keyId: ownKey?.id ?? null,
      userId: ownKey?.userId ?? null,
      code: event.code,
      dropped: event.dropped,
      v: event.v,
      receivedAt: now,
    };
  });
  const stored = await tx.events.insertManyIfNew(records);
  const webhooksOf = new Map<string, WebhookRecord[]>();
  const deliveries: DeliveryRecord[] = [];
  const queued = new Set<string>();
  for (const [i, event] of records.entries()) {
    // Twice the same id in one batch: the first is the one stored.
    if (!stored.has(event.id) || queued.has(event.id) || !KEY_EVENT_SET.has(event.type)) continue;
    queued.add(event.id);
    let webhooks = webhooksOf.get(event.lockHolderId);
    if (!webhooks) {
      webhooks = await tx.webhooks.liveForLockHolder(event.lockHolderId);
      webhooksOf.set(event.lockHolderId, webhooks);
    }
    if (webhooks.length === 0) continue;
    const payload = JSON.stringify({
      type: WEBHOOK_EVENT_TYPE,
      timestamp: new Date(now).toISOString(),
      data: keyEventView(event, incoming[i]!.lock.name, userNames.get(event.id) ?? null),
    });
    for (const webhook of webhooks) {
      deliveries.push({
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
  }
  await tx.deliveries.insertMany(deliveries);
  return stored;
}

/** One event (a virtual lock's): as storeLockEvents; answers whether it was new. */
export async function storeLockEvent(
  tx: Tx,
  ctx: CloudContext,
  lock: LockRecord,
  event: IncomingEvent,
): Promise<boolean> {
  return (await storeLockEvents(tx, ctx, [{ lock, event }])).has(event.id);
}
