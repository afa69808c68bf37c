import type { CloudContext } from "../context.js";
import { webhookUrlProblem } from "../security/webhook-target.js";
import type { LockHolderRecord, WebhookRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { webhookSealContext } from "../workers/webhook-delivery.js";
import { invalid, notFound } from "./errors.js";

/**
 * A webhook must reach a public http(s) address without credentials in its URL (security/webhook-target.ts), unless
 * the cloud allows private targets: 400 naming the problem otherwise. Checked before the lock holder is looked up.
 */
export function checkWebhookUrl(ctx: CloudContext, url: string): void {
  const problem = webhookUrlProblem(url, ctx.settings.allowPrivateWebhookTargets);
  if (problem) throw invalid(`body.url: ${problem}`);
}

/** Standard Webhooks secrets are whsec_ + standard base64 of the key; 24 bytes keep it free of padding. */
export const newWebhookSecret = (ctx: CloudContext): string =>
  `whsec_${Buffer.from(ctx.random(24)).toString("base64")}`;

/** A webhook for `lh`'s events of `eventTypes` (null: every type), its `secret` sealed at rest (shown once). */
export async function createWebhook(
  tx: Tx,
  ctx: CloudContext,
  lh: LockHolderRecord,
  url: string,
  secret: string,
  eventTypes: readonly string[] | null = null,
): Promise<WebhookRecord> {
  const id = ctx.ids.next("wh");
  const webhook: WebhookRecord = {
    id,
    lockHolderId: lh.id,
    url,
    secretSealed: ctx.sealer.seal(new TextEncoder().encode(secret), webhookSealContext(id)),
    createdAt: ctx.clock.now(),
    deletedAt: null,
    eventTypes: eventTypes && [...eventTypes],
    pausedAt: null,
  };
  await tx.webhooks.insert(webhook);
  return webhook;
}

/**
 * A PATCH of a webhook (docs/webhooks.md "Pause"): new event types, and/or paused. Unpausing leaves its queued
 * deliveries due as they were, so the worker sends them oldest first; pausing again keeps the first pause's time.
 */
export async function updateWebhook(
  tx: Tx,
  ctx: CloudContext,
  webhook: WebhookRecord,
  patch: { eventTypes?: readonly string[]; paused?: boolean },
): Promise<WebhookRecord> {
  const updated: WebhookRecord = {
    ...webhook,
    eventTypes: patch.eventTypes === undefined ? webhook.eventTypes : [...patch.eventTypes],
    pausedAt:
      patch.paused === undefined ? webhook.pausedAt : patch.paused ? (webhook.pausedAt ?? ctx.clock.now()) : null,
  };
  await tx.webhooks.update(webhook.id, updated);
  if (webhook.pausedAt !== null && updated.pausedAt === null) ctx.wake.webhooks();
  return updated;
}

/** At most this many deliveries are queued again by one replay `since` a time; the answer says how many were. */
export const REPLAY_LIMIT = 1000;

/**
 * Queues one delivery again, same webhook-id (docs/webhooks.md "Replay"). A pending one is queued already: answered as
 * it is, so a client retrying its replay request changes nothing.
 */
export async function replayDelivery(tx: Tx, ctx: CloudContext, webhook: WebhookRecord, deliveryId: string) {
  const delivery = await tx.deliveries.get(deliveryId);
  if (!delivery || delivery.webhookId !== webhook.id) throw notFound("delivery");
  if (delivery.status === "pending") return delivery;
  await tx.deliveries.replay([delivery.id], ctx.clock.now());
  ctx.wake.webhooks();
  return (await tx.deliveries.get(delivery.id))!;
}

/** Queues again the webhook's failed deliveries created at or after `since` (at most REPLAY_LIMIT, oldest first). */
export async function replayFailedSince(tx: Tx, ctx: CloudContext, webhook: WebhookRecord, since: number) {
  const ids = await tx.deliveries.failedSince(webhook.id, since, REPLAY_LIMIT);
  const replayed = await tx.deliveries.replay(ids, ctx.clock.now());
  if (replayed > 0) ctx.wake.webhooks();
  return replayed;
}
