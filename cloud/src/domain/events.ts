import { KEY_EVENT_TYPES } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../context.js";
import type { EventRecord, LockRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { keyEventView } from "./views.js";
import { queueWebhookEvents, type WebhookEvent } from "./webhook-events.js";

const KEY_EVENT_SET = new Set<string>(KEY_EVENT_TYPES);

/** Unlock attempts, by the name they had before the other event types (docs/webhooks.md). */
export const WEBHOOK_EVENT_TYPE = "key_event.created" as const;

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
 * delivery per live webhook of the lock holder that takes `key_event.created`, in the same transaction: an event and its deliveries are durable
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
  const queued = new Set<string>();
  const webhookEvents: WebhookEvent[] = [];
  for (const [i, event] of records.entries()) {
    // Twice the same id in one batch: the first is the one stored.
    if (!stored.has(event.id) || queued.has(event.id) || !KEY_EVENT_SET.has(event.type)) continue;
    queued.add(event.id);
    webhookEvents.push({
      lockHolderId: event.lockHolderId,
      type: WEBHOOK_EVENT_TYPE,
      data: () => keyEventView(event, incoming[i]!.lock.name, userNames.get(event.id) ?? null),
    });
  }
  await queueWebhookEvents(tx, ctx, webhookEvents);
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
