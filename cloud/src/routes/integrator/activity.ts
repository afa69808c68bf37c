import {
  CreatedWebhook,
  CreateWebhook,
  Delivery,
  DeliveryList,
  type EventFilterQuery,
  EventList,
  errors,
  FormatPhoneNumber,
  FormattedPhoneNumber,
  IdParam,
  Job,
  KeyEventQuery,
  LockEventQuery,
  LockHolderEventQuery,
  Obj,
  PageQuery,
  ReplayDeliveries,
  ReplayedDeliveries,
  UpdateWebhook,
  Webhook,
  WebhookList,
} from "@latchkey/protocol/contracts";
import type { TSchema } from "@sinclair/typebox";
import type { CloudContext } from "../../context.js";
import { keyOf, lockOf, webhookOf } from "../../domain/access.js";
import { read } from "../../domain/commit.js";
import { notFound, unprocessable } from "../../domain/errors.js";
import { type EventScope, eventPageRequest, keyEventPage } from "../../domain/event-list.js";
import { pageAnswer, pageRequest } from "../../domain/pages.js";
import { keyHolderMobile, toE164 } from "../../domain/phone.js";
import { deliveryView, jobView, webhookView } from "../../domain/views.js";
import {
  checkWebhookUrl,
  createWebhook,
  newWebhookSecret,
  REPLAY_LIMIT,
  replayDelivery,
  replayFailedSince,
  updateWebhook,
} from "../../domain/webhooks.js";
import { integratorOf } from "../../http/auth.js";
import { type LockHolderRequest, lockHolderScope, type Work } from "../../http/lock-holder.js";
import { route, type TypedApp } from "../../http/typed.js";
import { LhParams } from "./lock-holders.js";
import { LockParams } from "./locks.js";

const PageQuerySchema = Obj(PageQuery);
const WebhookParams = Obj({ lockHolderId: IdParam, webhookId: IdParam });
const KeyEventParams = Obj({ lockHolderId: IdParam, keyId: IdParam });
const DeliveryParams = Obj({ lockHolderId: IdParam, webhookId: IdParam, deliveryId: IdParam });

const EVENTS_DESCRIPTION =
  "Filters combine: `lockId`, `keyId`, `userId` (a phone number, E.164 or national in the lock holder's country), " +
  "`action` (unlocked, denied, locked, jammed), `from` (included) and `to` (not included), RFC 3339 times. The " +
  "newest 30 days bound every page. A bad value is a 400 naming the parameter. Pages with `limit` and " +
  "`startAfterId` as everywhere; `userName` is the name given to the event's key at creation.";

/** A key event list's route options: whose events (`of`), what a path id that is not the lock holder's answers. */
const eventList = <P extends TSchema, Q extends TSchema>(
  operationId: string,
  of: string,
  others: string,
  params: P,
  querystring: Q,
) =>
  route("integrator", {
    operationId,
    tags: ["events"],
    summary: `Key events of ${of}, newest first, last 30 days`,
    description: `${EVENTS_DESCRIPTION} ${others}`,
    params,
    querystring,
    response: { 200: EventList, ...errors(400, 404) },
  });

/** Jobs, lock holder events, webhooks and phone number formatting. */
export function activityRoutes(app: TypedApp, ctx: CloudContext): void {
  const lockHolder = lockHolderScope(ctx);
  /** The lock holder's key events, narrowed to the one lock or key of it the path names (404 for any other). */
  const events = (request: LockHolderRequest, q: EventFilterQuery, narrow?: Work<EventScope>) =>
    lockHolder.read(request, async (tx, lh) =>
      keyEventPage(tx, lh, eventPageRequest(ctx, lh, q, narrow ? await narrow(tx, lh) : {})),
    );
  app.get(
    "/jobs/:jobId",
    route("integrator", {
      operationId: "getJob",
      tags: ["keys"],
      summary: "Get a background job's progress and per-item results",
      description:
        "`state` says how it went in Unloc's words: `inProgress`, then `completed`, `partiallyFailed` (some items " +
        "failed), `failedValidation` (every item was refused when its turn came) or `failedJob` (the job broke). " +
        "`errors` lists each failed item `{index, keyId?, code, message}`; an item for a lock whose vendor " +
        "connection is in error has code `vendor_connection_error` and the message single key creation answers " +
        "with its 403. `status` is `failed` when no item could be created. A `batch_job.finished` webhook is sent " +
        "when the job ends (docs/webhooks.md).",
      params: Obj({ jobId: IdParam }),
      response: { 200: Job, ...errors(404) },
    }),
    async (request) => {
      const p = integratorOf(request);
      const { jobId } = request.params;
      const job = await read(ctx, (tx) => tx.jobs.get(jobId));
      if (
        !job ||
        job.integratorId !== p.integratorId ||
        (p.lockHolderId !== null && p.lockHolderId !== job.lockHolderId)
      ) {
        throw notFound("job");
      }
      return jobView(job);
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/events",
    eventList(
      "listEvents",
      "all locks under the lock holder",
      "Unknown lock, key or user ids match nothing (an empty page).",
      LhParams,
      LockHolderEventQuery,
    ),
    async (request) => events(request, request.query),
  );

  app.get(
    "/lock-holders/:lockHolderId/locks/:lockId/events",
    eventList(
      "listLockEvents",
      "one lock",
      "404 for a lock that is not the lock holder's.",
      LockParams,
      LockEventQuery,
    ),
    async (request) =>
      events(request, request.query, async (tx, lh) => ({ lockId: (await lockOf(tx, lh, request.params.lockId)).id })),
  );

  app.get(
    "/lock-holders/:lockHolderId/keys/:keyId/events",
    eventList(
      "listKeyEvents",
      "one key",
      "404 for a key that is not the lock holder's.",
      KeyEventParams,
      KeyEventQuery,
    ),
    async (request) =>
      events(request, request.query, async (tx, lh) => ({ keyId: (await keyOf(tx, lh, request.params.keyId)).id })),
  );

  app.get(
    "/lock-holders/:lockHolderId/webhooks",
    route("integrator", {
      operationId: "listWebhooks",
      tags: ["webhooks"],
      summary: "List webhooks",
      params: LhParams,
      querystring: PageQuerySchema,
      response: { 200: WebhookList, ...errors(400, 404) },
    }),
    async (request) => {
      const q = request.query;
      const page = await lockHolder.read(request, (tx, lh) => tx.webhooks.list(lh.id, pageRequest(q)));
      return pageAnswer("webhooks", page, webhookView);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/webhooks",
    route("integrator", {
      operationId: "createWebhook",
      tags: ["webhooks"],
      summary: "Create a webhook for the lock holder's events",
      description:
        "Each event is POSTed as `{type, timestamp, data}`, signed per Standard Webhooks (webhook-id, " +
        "webhook-timestamp, webhook-signature) with the secret in this answer (shown once). `eventTypes` chooses " +
        "the types (every type if left out; an unknown type is a 400 naming it): `key_event.created` (an unlock " +
        "attempt), `key.created`, `key.updated`, `key.revoked`, `key.state_changed`, `lock.battery_low`, " +
        "`lock.battery_critical`, `lock.offline` (also when its bridge went silent), `lock.online`, " +
        "`vendor_connection.state_changed`, " +
        "`batch_job.finished`; docs/webhooks.md shows each payload. Retried with exponential backoff until a 2xx: at " +
        "least once, so deduplicate on webhook-id (a replay keeps it too). The URL must be http(s) without " +
        "a user name or password, and must reach a public address: loopback, private, link-local and other " +
        "non-public addresses and `localhost` are refused (400) unless the cloud runs with --allow-private-webhooks; " +
        "a name that resolves to such an address fails each delivery with `refused: …`.",
      params: LhParams,
      body: CreateWebhook,
      response: { 201: CreatedWebhook, ...errors(400, 404) },
    }),
    async (request, reply) => {
      const { url, eventTypes } = request.body;
      checkWebhookUrl(ctx, url);
      const secret = newWebhookSecret(ctx);
      const webhook = await lockHolder.commit(request, (tx, lh) =>
        createWebhook(tx, ctx, lh, url, secret, eventTypes ?? null),
      );
      reply.code(201);
      return { ...webhookView(webhook), secret };
    },
  );

  app.delete(
    "/lock-holders/:lockHolderId/webhooks/:webhookId",
    route("integrator", {
      operationId: "deleteWebhook",
      tags: ["webhooks"],
      summary: "Delete a webhook (pending deliveries to it are dropped)",
      params: WebhookParams,
      response: { 204: { type: "null", description: "deleted" }, ...errors(404) },
    }),
    async (request, reply) => {
      const { webhookId } = request.params;
      await lockHolder.commit(request, async (tx, lh) => {
        const webhook = await webhookOf(tx, lh, webhookId);
        await tx.webhooks.markDeleted(webhook.id, ctx.clock.now());
      });
      reply.code(204).send();
    },
  );

  app.patch(
    "/lock-holders/:lockHolderId/webhooks/:webhookId",
    route("integrator", {
      operationId: "updateWebhook",
      tags: ["webhooks"],
      summary: "Change a webhook's event types, or pause and unpause it",
      description:
        "`paused: true` queues deliveries without sending them (nothing is dropped); `paused: false` sends the " +
        "queue oldest first. `eventTypes` applies to events from now on: deliveries already queued are sent. An " +
        "unknown type is a 400 naming it.",
      params: WebhookParams,
      body: UpdateWebhook,
      response: { 200: Webhook, ...errors(400, 404) },
    }),
    async (request) => {
      const { webhookId } = request.params;
      const webhook = await lockHolder.commit(request, async (tx, lh) =>
        updateWebhook(tx, ctx, await webhookOf(tx, lh, webhookId), request.body),
      );
      return webhookView(webhook);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/webhooks/:webhookId/replay",
    route("integrator", {
      operationId: "replayFailedWebhookDeliveries",
      tags: ["webhooks"],
      summary: "Replay the webhook's failed deliveries since a time",
      description:
        `Queues again each failed delivery created at or after \`since\` (at most ${REPLAY_LIMIT}, oldest first; ` +
        "replay again for more), with its original payload and webhook-id, so a receiver that deduplicates on " +
        "webhook-id handles each event once. Attempts count afresh.",
      params: WebhookParams,
      body: ReplayDeliveries,
      response: { 202: ReplayedDeliveries, ...errors(400, 404) },
    }),
    async (request, reply) => {
      const { webhookId } = request.params;
      const since = Date.parse(request.body.since);
      const replayed = await lockHolder.commit(request, async (tx, lh) =>
        replayFailedSince(tx, ctx, await webhookOf(tx, lh, webhookId), since),
      );
      reply.code(202);
      return { replayed };
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/webhooks/:webhookId/deliveries/:deliveryId/replay",
    route("integrator", {
      operationId: "replayWebhookDelivery",
      tags: ["webhooks"],
      summary: "Replay one delivery (delivered or failed)",
      description:
        "Queues the delivery again with its original payload and webhook-id (receivers deduplicate on it: one that " +
        "already handled it may answer 2xx and ignore it). Attempts count afresh. A delivery still pending is " +
        "queued already: it is answered as it is.",
      params: DeliveryParams,
      response: { 202: Delivery, ...errors(404) },
    }),
    async (request, reply) => {
      const { webhookId, deliveryId } = request.params;
      const delivery = await lockHolder.commit(request, async (tx, lh) =>
        replayDelivery(tx, ctx, await webhookOf(tx, lh, webhookId), deliveryId),
      );
      reply.code(202);
      return deliveryView(delivery);
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/webhooks/:webhookId/deliveries",
    route("integrator", {
      operationId: "listWebhookDeliveries",
      tags: ["webhooks"],
      summary: "Recent deliveries of a webhook, with attempts and the last error (for debugging a receiver)",
      params: WebhookParams,
      response: { 200: DeliveryList, ...errors(404) },
    }),
    async (request) => {
      const { webhookId } = request.params;
      const deliveries = await lockHolder.read(request, async (tx, lh) => {
        const webhook = await webhookOf(tx, lh, webhookId);
        return tx.deliveries.listForWebhook(webhook.id);
      });
      return { deliveries: deliveries.map(deliveryView) };
    },
  );

  app.post(
    "/phone-numbers/format",
    route("integrator", {
      operationId: "formatPhoneNumber",
      tags: ["phone numbers"],
      summary: "Format a mobile number the way the API recognizes it (E.164)",
      description:
        "422 `invalid_phone_number` when it is not a valid number, or is valid but not a mobile (a landline, " +
        "FIXED_LINE, and the other non-mobile types: what key creation refuses); FIXED_LINE_OR_MOBILE is taken.",
      body: FormatPhoneNumber,
      response: { 200: FormattedPhoneNumber, ...errors(400, 422) },
    }),
    async (request) => {
      const { phoneNumber, countryIso } = request.body;
      const e164 = toE164(phoneNumber, countryIso);
      if (!e164) {
        throw unprocessable(
          `phoneNumber: ${JSON.stringify(phoneNumber)} is not a valid phone number${countryIso ? ` in ${countryIso}` : "; add countryIso or use +<country code>"}`,
          "invalid_phone_number",
        );
      }
      // What key creation would take: a landline is valid but refused there, so it is refused here too.
      const mobile = keyHolderMobile(e164);
      if ("problem" in mobile) {
        throw unprocessable(`phoneNumber: ${JSON.stringify(phoneNumber)} ${mobile.problem}`, "invalid_phone_number");
      }
      return { phoneNumber: e164 };
    },
  );
}
