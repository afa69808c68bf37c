import { type Static, Type } from "@sinclair/typebox";
import { Nullable, Obj, PageCursor, Timestamp } from "./common.js";

export const TokenRequest = Obj(
  {
    grant_type: Type.Optional(Type.Literal("client_credentials")),
    client_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: "unless sent with HTTP Basic (then not here)" }),
    ),
    client_secret: Type.Optional(
      Type.String({ minLength: 1, maxLength: 500, description: "unless sent with HTTP Basic (then not here)" }),
    ),
    scope: Type.String({
      minLength: 1,
      maxLength: 200,
      description: "`integrator.admin`, `lockHolder.admin:<lockHolderId>`, or `bridge` (for bridge credentials)",
    }),
  },
  {
    "x-examples": {
      integrator: {
        summary: "integrator-wide token",
        value: { grant_type: "client_credentials", client_id: "cl_…", client_secret: "…", scope: "integrator.admin" },
      },
      lockHolder: {
        summary: "token for one lock holder",
        value: {
          grant_type: "client_credentials",
          client_id: "cl_…",
          client_secret: "…",
          scope: "lockHolder.admin:lh_…",
        },
      },
      basic: {
        summary: "client credentials in an Authorization: Basic header instead (RFC 6749 section 2.3.1)",
        value: { grant_type: "client_credentials", scope: "integrator.admin" },
      },
      bridge: {
        summary: "bridge token",
        value: { grant_type: "client_credentials", client_id: "br_…", client_secret: "…", scope: "bridge" },
      },
    },
  },
);
export type TokenRequest = Static<typeof TokenRequest>;

export const TokenAnswer = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal("bearer"),
  expires_in: Type.Integer(),
  scope: Type.String(),
});
export type TokenAnswer = Static<typeof TokenAnswer>;

export const Integrator = Type.Object({ id: Type.String(), name: Type.String(), created: Timestamp });
export type Integrator = Static<typeof Integrator>;

const ORGANIZATION_ID = "^[A-Za-z0-9_-]{4,1024}$";

export const LockHolder = Type.Object({
  id: Type.String(),
  name: Type.String(),
  countryIso: Nullable(Type.String()),
  organizationId: Nullable(Type.String()),
  organizationIdSuffix: Nullable(Type.String()),
  created: Timestamp,
});
export type LockHolder = Static<typeof LockHolder>;

export const CreateLockHolder = Obj(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    countryIso: Type.Optional(
      Type.String({
        pattern: "^[A-Z]{2}$",
        description: "ISO 3166-1 alpha-2, e.g. NO, that the phone number metadata knows (422 otherwise)",
      }),
    ),
    organizationId: Type.Optional(
      Type.String({ pattern: ORGANIZATION_ID, description: "4 to 1024 letters, digits, _ and -" }),
    ),
    organizationIdSuffix: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" })),
  },
  { examples: [{ name: "Storgata 1 housing co-op", countryIso: "NO", organizationId: "storgata-1" }] },
);
export type CreateLockHolder = Static<typeof CreateLockHolder>;

export const PatchLockHolder = Obj(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    countryIso: Type.Optional(
      Type.String({ pattern: "^[A-Z]{2}$", description: "as on create: a country the metadata knows (422 otherwise)" }),
    ),
  },
  { examples: [{ name: "Storgata 1 & 3 housing co-op" }] },
);
export type PatchLockHolder = Static<typeof PatchLockHolder>;

export const LockHolderList = Type.Object({ lockHolders: Type.Array(LockHolder), startAfterId: PageCursor });
export type LockHolderList = Static<typeof LockHolderList>;

export const Bridge = Type.Object({
  id: Type.String(),
  name: Nullable(Type.String()),
  online: Type.Boolean({
    description: "heard (a heartbeat or a presence report) within the offline threshold, 90 s by default",
  }),
  lastSeen: Nullable(Timestamp),
  version: Nullable(Type.String()),
  locksOnline: Nullable(Type.Integer()),
  created: Timestamp,
});
export type Bridge = Static<typeof Bridge>;

export const CreateBridge = Obj(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
  { examples: [{ name: "Storgata 1 basement gateway" }] },
);
export type CreateBridge = Static<typeof CreateBridge>;

export const CreatedBridge = Type.Object({
  bridgeId: Type.String(),
  secret: Type.String({ description: "shown once: put it in the bridge's config file" }),
  bridge: Bridge,
});
export type CreatedBridge = Static<typeof CreatedBridge>;

export const BridgeList = Type.Object({ bridges: Type.Array(Bridge), startAfterId: PageCursor });
export type BridgeList = Static<typeof BridgeList>;

/** The overlap when a rotation names none: a day, time for an operator to update a deployment's config. */
export const DEFAULT_OVERLAP_SECONDS = 86_400;
/** The longest overlap: an old secret that may be leaked should not stay valid for long. */
export const MAX_OVERLAP_SECONDS = 7 * 86_400;

/** Secret rotation (review 12.7; cloud/README.md "Rotating secrets"). */
export const RotateSecret = Obj(
  {
    overlapSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_OVERLAP_SECONDS,
        default: DEFAULT_OVERLAP_SECONDS,
        description:
          "how long the old secret keeps working (default a day, at most 7 days); 0 revokes it, and its tokens, now",
      }),
    ),
  },
  { examples: [{ overlapSeconds: 86_400 }, { overlapSeconds: 0 }] },
);
export type RotateSecret = Static<typeof RotateSecret>;

const expiresOldAt = Type.String({
  format: "date-time",
  description: "ISO 8601, UTC: when the old secret stops working (now, if the overlap was 0)",
});

export const RotatedBridgeSecret = Type.Object({
  bridgeId: Type.String(),
  secret: Type.String({ description: "shown once: put it in the bridge's config file before expiresOldAt" }),
  expiresOldAt,
});
export type RotatedBridgeSecret = Static<typeof RotatedBridgeSecret>;

export const RotatedClientSecret = Type.Object({
  clientId: Type.String(),
  secret: Type.String({ description: "shown once: the client_secret for POST /auth/v1/token from now on" }),
  expiresOldAt,
});
export type RotatedClientSecret = Static<typeof RotatedClientSecret>;

export const IssuerKey = Type.Object({
  kid: Type.String({ description: "hex" }),
  x: Type.String({ description: "Ed25519 public key, hex" }),
  active: Type.Boolean({ description: "signs new tokens" }),
  created: Timestamp,
  rotated: Nullable(Timestamp),
  retired: Nullable(Timestamp),
});
export type IssuerKey = Static<typeof IssuerKey>;

export const IssuerKeyList = Type.Object({ issuerKeys: Type.Array(IssuerKey) });
export type IssuerKeyList = Static<typeof IssuerKeyList>;
