import type { WebhookEventType } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../context.js";
import type {
  BatteryRecord,
  DeliveryRecord,
  LockRecord,
  VendorConnectionRecord,
  WebhookRecord,
} from "../store/records.js";
import type { Tx } from "../store/store.js";

/**
 * One webhook event of a lock holder, before it is queued: its type and its `data` (docs/webhooks.md), or a function
 * making it, called only when a webhook takes the event (a bridge's upload brings up to 1,000 key events, most of
 * them to lock holders with no webhook).
 */
export interface WebhookEvent {
  lockHolderId: string;
  type: WebhookEventType;
  data: unknown;
}

const dataOf = (event: WebhookEvent): unknown => (typeof event.data === "function" ? event.data() : event.data);

const subscribed = (webhook: WebhookRecord, type: string) =>
  webhook.eventTypes === null || webhook.eventTypes.includes(type);

/**
 * The outbox (docs/webhooks.md "Delivery"): queues one delivery per event and per live webhook of its lock holder that
 * takes its type, in the caller's transaction, so an event and the change that caused it commit (or roll back)
 * together; the webhook worker sends them later. A paused webhook still queues: it only holds the sending.
 */
export async function queueWebhookEvents(tx: Tx, ctx: CloudContext, events: readonly WebhookEvent[]): Promise<void> {
  if (events.length === 0) return;
  const now = ctx.clock.now();
  const timestamp = new Date(now).toISOString();
  const webhooksOf = new Map<string, WebhookRecord[]>();
  const deliveries: DeliveryRecord[] = [];
  for (const event of events) {
    let webhooks = webhooksOf.get(event.lockHolderId);
    if (!webhooks) {
      webhooks = await tx.webhooks.liveForLockHolder(event.lockHolderId);
      webhooksOf.set(event.lockHolderId, webhooks);
    }
    const targets = webhooks.filter((w) => subscribed(w, event.type));
    if (targets.length === 0) continue;
    const payload = JSON.stringify({ type: event.type, timestamp, data: dataOf(event) });
    for (const webhook of targets) {
      deliveries.push({
        id: ctx.ids.next("msg"),
        webhookId: webhook.id,
        eventType: event.type,
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
  // Early is harmless: a tick before the commit finds nothing, and the loop polls again.
  if (deliveries.length > 0) ctx.wake.webhooks();
}

export const queueWebhookEvent = (tx: Tx, ctx: CloudContext, event: WebhookEvent) =>
  queueWebhookEvents(tx, ctx, [event]);

/**
 * `lock.battery_low` / `lock.battery_critical` when a reading crosses down into that band (ok → low, ok or low →
 * critical), not on every report: a lock that stays low says so once, and again only after it was ok in between.
 */
export function batteryEvent(lock: LockRecord, reading: Omit<BatteryRecord, "updatedAt">): WebhookEvent | undefined {
  const before = lock.battery?.state ?? "ok";
  if (reading.state === before || reading.state === "ok") return undefined;
  if (before === "critical") return undefined;
  return {
    lockHolderId: lock.lockHolderId,
    type: reading.state === "critical" ? "lock.battery_critical" : "lock.battery_low",
    data: {
      lockId: lock.id,
      lockName: lock.name,
      level: reading.level,
      state: reading.state,
      previousState: before,
      measured: new Date(reading.tsS * 1000).toISOString(),
    },
  };
}

/** `lock.online` / `lock.offline`: the lock's shown presence and since when (domain/lock-presence.ts decides when). */
export function presenceEvent(lock: LockRecord, online: boolean, sinceMs: number): WebhookEvent {
  return {
    lockHolderId: lock.lockHolderId,
    type: online ? "lock.online" : "lock.offline",
    data: { lockId: lock.id, lockName: lock.name, online, since: new Date(sinceMs).toISOString() },
  };
}

/** `vendor_connection.state_changed` when a connection's state is not what it was. */
export function connectionStateEvent(
  before: VendorConnectionRecord,
  state: string,
  reason: string | null,
): WebhookEvent | undefined {
  if (before.state === state) return undefined;
  return {
    lockHolderId: before.lockHolderId,
    type: "vendor_connection.state_changed",
    data: { vendorConnectionId: before.id, vendor: before.vendor, state, previousState: before.state, reason },
  };
}
