import { type Static, Type } from "@sinclair/typebox";
import { Nullable, Obj, PageCursor, PageQuery, Timestamp } from "./common.js";

/** Key events: what a door did for (or refused to) a person. Lock housekeeping (sync, clock, battery) is not one. */
export const KEY_EVENT_TYPES = ["unlocked", "denied", "locked", "jammed"] as const;
export type KeyEventType = (typeof KEY_EVENT_TYPES)[number];

/** The key event actions, as a query filter. */
const Action = Type.Union(
  KEY_EVENT_TYPES.map((a) => Type.Literal(a)),
  { description: "only events with this action" },
);

/** Event filters (issue 14); each is optional and they combine (AND). The 30-day window still bounds them. */
const EventFilters = {
  lockId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      description: "only events of this lock",
      examples: ["virtual-0a1b2c3d4e5f"],
    }),
  ),
  keyId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "only events of this key" })),
  userId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 32,
      description: "only events of this key holder: E.164 or national in the lock holder's country",
      examples: ["+4791234567"],
    }),
  ),
  action: Type.Optional(Action),
  from: Type.Optional(
    Type.String({
      format: "date-time",
      description: "only events at or after this time (RFC 3339 with offset)",
      examples: ["2030-01-01T00:00:00Z"],
    }),
  ),
  to: Type.Optional(
    Type.String({
      format: "date-time",
      description: "only events before this time (RFC 3339 with offset; not included)",
      examples: ["2030-01-02T00:00:00Z"],
    }),
  ),
};

/** `GET …/events`: every filter. */
export const LockHolderEventQuery = Obj({ ...PageQuery, ...EventFilters });
export type LockHolderEventQuery = Static<typeof LockHolderEventQuery>;
/** Every event filter: the lock and key routes fill the ones their path gives. */
export type EventFilterQuery = LockHolderEventQuery;
/** `GET …/locks/{lockId}/events`: the lock is the path's. */
export const LockEventQuery = Obj({
  ...PageQuery,
  keyId: EventFilters.keyId,
  userId: EventFilters.userId,
  action: EventFilters.action,
  from: EventFilters.from,
  to: EventFilters.to,
});
export type LockEventQuery = Static<typeof LockEventQuery>;
/** `GET …/keys/{keyId}/events`: the key (and so its lock and holder) is the path's. */
export const KeyEventQuery = Obj({
  ...PageQuery,
  action: EventFilters.action,
  from: EventFilters.from,
  to: EventFilters.to,
});
export type KeyEventQuery = Static<typeof KeyEventQuery>;

export const KeyEvent = Type.Object({
  id: Type.String(),
  action: Type.String({ description: "unlocked, denied, locked or jammed" }),
  created: Timestamp,
  keyId: Nullable(Type.String()),
  lockId: Type.String(),
  lockName: Type.String(),
  userId: Nullable(Type.String()),
  userName: Nullable(Type.String()),
  code: Type.Optional(Type.String({ description: "why a denied attempt was refused" })),
});
export type KeyEvent = Static<typeof KeyEvent>;

export const EventList = Type.Object({ events: Type.Array(KeyEvent), startAfterId: PageCursor });
export type EventList = Static<typeof EventList>;

/**
 * The webhook event types (issue 14, docs/webhooks.md), `resource.action` as Standard Webhooks names them. Unlock
 * attempts keep the name they had before the others existed, `key_event.created`, for integrations built on it.
 */
export const WEBHOOK_EVENT_TYPES = [
  "key_event.created",
  "key.created",
  "key.updated",
  "key.revoked",
  "key.state_changed",
  "lock.battery_low",
  "lock.battery_critical",
  "lock.offline",
  "lock.online",
  "vendor_connection.state_changed",
  "batch_job.finished",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const EVENT_TYPES_DESCRIPTION =
  "the event types this webhook receives (docs/webhooks.md has an example payload of each)";
const eventTypes = (description: string) =>
  Type.Array(Type.Union(WEBHOOK_EVENT_TYPES.map((t) => Type.Literal(t))), {
    minItems: 1,
    maxItems: WEBHOOK_EVENT_TYPES.length,
    uniqueItems: true,
    description,
    examples: [["key.created", "key.revoked", "batch_job.finished"]],
  });
const EventTypes = eventTypes(EVENT_TYPES_DESCRIPTION);

export const Webhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  created: Timestamp,
  eventTypes: EventTypes,
  paused: Type.Boolean({ description: "deliveries queue while paused and are sent in order once unpaused" }),
});
export type Webhook = Static<typeof Webhook>;

export const CreatedWebhook = Type.Object({
  ...Webhook.properties,
  secret: Type.String({ description: "whsec_…: verify deliveries with it (Standard Webhooks); shown once" }),
});
export type CreatedWebhook = Static<typeof CreatedWebhook>;

export const CreateWebhook = Obj(
  {
    url: Type.String({ format: "uri", maxLength: 2000, description: "http(s) URL that receives POSTs" }),
    eventTypes: Type.Optional(eventTypes(`${EVENT_TYPES_DESCRIPTION}; every type if left out`)),
  },
  {
    "x-examples": {
      all: { summary: "every event type", value: { url: "https://example.com/latchkey/webhooks" } },
      some: {
        summary: "key lifecycle and batch jobs only",
        value: { url: "https://example.com/latchkey/webhooks", eventTypes: ["key.created", "batch_job.finished"] },
      },
    },
  },
);
export type CreateWebhook = Static<typeof CreateWebhook>;

export const UpdateWebhook = Obj(
  {
    eventTypes: Type.Optional(EventTypes),
    paused: Type.Optional(
      Type.Boolean({ description: "true queues deliveries without sending them; false sends the queue in order" }),
    ),
  },
  {
    minProperties: 1,
    "x-examples": {
      pause: { summary: "pause deliveries", value: { paused: true } },
      types: { summary: "change the event types", value: { eventTypes: ["key_event.created"] } },
    },
  },
);
export type UpdateWebhook = Static<typeof UpdateWebhook>;

export const ReplayDeliveries = Obj(
  {
    since: Type.String({
      format: "date-time",
      description: "replay the webhook's failed deliveries created at or after this time (RFC 3339 with offset)",
      examples: ["2030-01-01T00:00:00Z"],
    }),
  },
  { examples: [{ since: "2030-01-01T00:00:00Z" }] },
);
export type ReplayDeliveries = Static<typeof ReplayDeliveries>;

export const ReplayedDeliveries = Type.Object({
  replayed: Type.Integer({ description: "how many deliveries were queued again" }),
});
export type ReplayedDeliveries = Static<typeof ReplayedDeliveries>;

export const WebhookList = Type.Object({ webhooks: Type.Array(Webhook), startAfterId: PageCursor });
export type WebhookList = Static<typeof WebhookList>;

export const FormatPhoneNumber = Obj(
  {
    phoneNumber: Type.String({ minLength: 1, maxLength: 64 }),
    countryIso: Type.Optional(Type.String({ pattern: "^[A-Z]{2}$" })),
  },
  {
    "x-examples": {
      national: { summary: "national number with country", value: { phoneNumber: "912 34 567", countryIso: "NO" } },
      international: { summary: "international notation", value: { phoneNumber: "+47 912 34 567" } },
    },
  },
);
export type FormatPhoneNumber = Static<typeof FormatPhoneNumber>;

export const FormattedPhoneNumber = Type.Object({ phoneNumber: Type.String() });
export type FormattedPhoneNumber = Static<typeof FormattedPhoneNumber>;

export const Delivery = Type.Object({
  id: Type.String({ description: "the webhook-id header of every attempt, and of its replays" }),
  type: Type.String(),
  status: Type.Union([Type.Literal("pending"), Type.Literal("delivered"), Type.Literal("failed")]),
  attempts: Type.Integer(),
  nextAttempt: Nullable(Timestamp),
  lastError: Nullable(Type.String()),
  created: Timestamp,
  delivered: Nullable(Timestamp),
});
export type Delivery = Static<typeof Delivery>;

export const DeliveryList = Type.Object({ deliveries: Type.Array(Delivery) });
export type DeliveryList = Static<typeof DeliveryList>;
