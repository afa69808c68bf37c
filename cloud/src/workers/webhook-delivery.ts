import { request as httpRequest, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { Webhook } from "standardwebhooks";
import type { CloudContext } from "../context.js";
import { isPublicAddress, NonPublicTargetError, type Resolve, webhookLookup } from "../security/webhook-target.js";
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
  let failure: string;
  // A refused literal address will be refused on every attempt: marked failed at once instead of retried for hours.
  // A refused name is retried like any failure: its DNS may be fixed, and every attempt is checked again.
  let final = false;
  const signal = AbortSignal.timeout(policy.timeoutMs);
  try {
    const secret = new TextDecoder().decode(ctx.sealer.open(webhook.secretSealed, webhookSealContext(webhook.id)));
    // The signature timestamp is transport freshness for the receiver's replay check: real wall-clock time.
    const sentAt = new Date();
    const status = await post(
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

/**
 * One POST with node:http(s) rather than fetch: only they take a `lookup`, which is what pins the connection to the
 * address that was checked (fetch would need undici's dispatcher). Unless `allowPrivate`, only public addresses are
 * reached (see security/webhook-target.ts). Answers the status once the answer's body is drained, unkept. No
 * redirect is followed (a 3xx is a failure like any non-2xx), and `signal` bounds the whole exchange.
 */
function post(
  url: URL,
  headers: OutgoingHttpHeaders,
  body: string,
  signal: AbortSignal,
  resolve: Resolve,
  allowPrivate: boolean,
): Promise<number> {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  // Node does not call `lookup` for a literal address: checked here instead.
  if (!allowPrivate && isIP(host) !== 0 && !isPublicAddress(host))
    return Promise.reject(new NonPublicTargetError(host));
  return new Promise((done, fail) => {
    let status: number | undefined;
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      {
        method: "POST",
        hostname: host,
        port: url.port === "" ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        headers: { ...headers, "content-length": Buffer.byteLength(body) },
        // A connection of its own per delivery: a pooled socket could outlive the check that pinned it, or be shared
        // by two clouds in one process with different settings; and none lingers once the cloud closes.
        agent: false,
        signal,
        lookup: webhookLookup(resolve, allowPrivate),
      },
      (response) => {
        status = response.statusCode ?? 0;
        response.on("error", () => {});
        response.on("close", () => done(status!));
        response.resume();
      },
    );
    // Once the status is known, a body cut short (timeout, reset) does not change the outcome.
    request.on("error", (err) => (status === undefined ? fail(err) : done(status)));
    request.end(body);
  });
}
