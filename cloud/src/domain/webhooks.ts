import type { CloudContext } from "../context.js";
import { webhookUrlProblem } from "../security/webhook-target.js";
import type { LockHolderRecord, WebhookRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { webhookSealContext } from "../workers/webhook-delivery.js";
import { invalid } from "./errors.js";

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

/** A webhook for `lh`'s key events, its signing `secret` sealed at rest (the answer shows it once). */
export async function createWebhook(
  tx: Tx,
  ctx: CloudContext,
  lh: LockHolderRecord,
  url: string,
  secret: string,
): Promise<WebhookRecord> {
  const id = ctx.ids.next("wh");
  const webhook: WebhookRecord = {
    id,
    lockHolderId: lh.id,
    url,
    secretSealed: ctx.sealer.seal(new TextEncoder().encode(secret), webhookSealContext(id)),
    createdAt: ctx.clock.now(),
    deletedAt: null,
  };
  await tx.webhooks.insert(webhook);
  return webhook;
}
