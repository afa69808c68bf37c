import { isIP } from "node:net";
import { Webhook } from "standardwebhooks";
import type { CloudContext } from "../context.js";
import { pinnedPost } from "../security/pinned-post.js";
import { NonPublicTargetError } from "../security/webhook-target.js";
import type { DeliveryRecord } from "../store/records.js";

const CLAIM_BATCH = 16;

export const webhookSealContext = (webhookId: string) => `webhook-secret:${webhookId}`;

/** Exponential backoff with full jitter: a delay drawn uniformly from [0, min(max, base · 2^(attempt-1))]. */
export function retryDelayMs(attempt: number, ctx: Pick<CloudContext, "random" | "settings">): number {
  const { baseDelayMs, maxDelayMs } = ctx.settings.webhookRetry;
  const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  const unit = Buffer.from(ctx.random(4)).readUInt32BE(0) / 2 ** 32;
  return Math.floor(unit * (cap + 1));
}

/**
 * One pass of the webhook outbox: claims due deliveries, POSTs each signed per Standard Webhooks, and records the
 * outcome. A 2xx marks it delivered; anything else schedules a retry until `maxAttempts`. Answers ms until the next
 * delivery is due, if any.
 */
export async function deliverDueWebhooks(ctx: CloudContext): Promise<number | undefined> {
  const policy = ctx.settings.webhookRetry;
  for (;;) {
    const due = await ctx.store.transaction((tx) =>
      tx.deliveries.claimDue(ctx.clock.now(), CLAIM_BATCH, policy.timeoutMs + 5_000),
    );
    if (due.length === 0) break;
    await Promise.all(due.map((d) => deliverOne(ctx, d)));
  }
  const next = await ctx.store.transaction((tx) => tx.deliveries.nextDueAt());
  return next === undefined ? undefined : Math.max(0, next - ctx.clock.now());
}

async function deliverOne(ctx: CloudContext, delivery: DeliveryRecord): Promise<void> {
  const policy = ctx.settings.webhookRetry;
  const webhook = await ctx.store.transaction((tx) => tx.webhooks.get(delivery.webhookId));
  const attempts = delivery.attempts + 1;
  if (!webhook || webhook.deletedAt !== null) {
    await ctx.store.transaction((tx) =>
      tx.deliveries.markFailed(delivery.id, delivery.attempts, "the webhook was deleted"),
    );
    return;
  }
  // Paused after this delivery was claimed: handed back untried, to go out in its turn once unpaused.
  if (webhook.pausedAt !== null) {
    await ctx.store.transaction((tx) => tx.deliveries.release(delivery.id));
    return;
  }
  let failure: string;
  // A refused literal address will be refused on every attempt: marked failed at once instead of retried for hours.
  // A refused name is retried like any failure: its DNS may be fixed, and every attempt is checked again.
  let final = false;
  const signal = AbortSignal.timeout(policy.timeoutMs);
  try {
    const secret = new TextDecoder().decode(ctx.sealer.open(webhook.secretSealed, webhookSealContext(webhook.id)));
    // The signature timestamp is transport freshness for the receiver's replay check: real wall-clock time.
    const sentAt = new Date();
    const status = await pinnedPost(
      new URL(webhook.url),
      {
        "content-type": "application/json",
        "user-agent": "latchkey-cloud-webhooks",
        "webhook-id": delivery.id,
        "webhook-timestamp": Math.floor(sentAt.getTime() / 1000).toString(),
        "webhook-signature": new Webhook(secret).sign(delivery.id, sentAt, delivery.payload),
      },
      delivery.payload,
      signal,
      ctx.webhookResolve,
      ctx.settings.allowPrivateWebhookTargets,
    );
    if (status >= 200 && status < 300) {
      await ctx.store.transaction((tx) => tx.deliveries.markDelivered(delivery.id, ctx.clock.now()));
      return;
    }
    failure = `HTTP ${status}`;
  } catch (err) {
    if (err instanceof NonPublicTargetError) {
      failure = `refused: ${err.message}`;
      final = isIP(err.host) !== 0;
    } else {
      failure = signal.aborted ? "timed out" : `connection failed: ${(err as Error).message}`;
    }
  }
  if (final || attempts >= policy.maxAttempts) {
    ctx.log.warn({ deliveryId: delivery.id, webhookId: webhook.id, attempts, failure }, "webhook delivery gave up");
    await ctx.store.transaction((tx) => tx.deliveries.markFailed(delivery.id, attempts, failure));
    return;
  }
  const next = ctx.clock.now() + retryDelayMs(attempts, ctx);
  await ctx.store.transaction((tx) => tx.deliveries.scheduleRetry(delivery.id, attempts, next, failure));
}
