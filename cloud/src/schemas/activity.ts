import { Type } from "@sinclair/typebox";
import { Nullable, Obj, PageCursor, Timestamp } from "./common.js";

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

export const EventList = Type.Object({ events: Type.Array(KeyEvent), startAfterId: PageCursor });

export const Webhook = Type.Object({ id: Type.String(), url: Type.String(), created: Timestamp });

export const CreatedWebhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  created: Timestamp,
  secret: Type.String({ description: "whsec_…: verify deliveries with it (Standard Webhooks); shown once" }),
});

export const CreateWebhook = Obj(
  { url: Type.String({ format: "uri", maxLength: 2000, description: "http(s) URL that receives POSTs" }) },
  { examples: [{ url: "https://example.com/latchkey/webhooks" }] },
);

export const WebhookList = Type.Object({ webhooks: Type.Array(Webhook), startAfterId: PageCursor });

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

export const FormattedPhoneNumber = Type.Object({ phoneNumber: Type.String() });

export const Delivery = Type.Object({
  id: Type.String({ description: "the webhook-id header of every attempt" }),
  type: Type.String(),
  status: Type.Union([Type.Literal("pending"), Type.Literal("delivered"), Type.Literal("failed")]),
  attempts: Type.Integer(),
  nextAttempt: Nullable(Timestamp),
  lastError: Nullable(Type.String()),
  created: Timestamp,
  delivered: Nullable(Timestamp),
});

export const DeliveryList = Type.Object({ deliveries: Type.Array(Delivery) });
