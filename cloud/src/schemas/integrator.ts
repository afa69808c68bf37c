import { Type } from "@sinclair/typebox";
import { Nullable, Obj, PageCursor, Timestamp } from "./common.js";

export const TokenRequest = Obj(
  {
    grant_type: Type.Optional(Type.Literal("client_credentials")),
    client_id: Type.String({ minLength: 1, maxLength: 200 }),
    client_secret: Type.String({ minLength: 1, maxLength: 500 }),
    scope: Type.String({
      minLength: 1,
      maxLength: 200,
      description: "integrator.admin, lockHolder.admin:<lockHolderId>, or bridge (for bridge credentials)",
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
      bridge: {
        summary: "bridge token",
        value: { grant_type: "client_credentials", client_id: "br_…", client_secret: "…", scope: "bridge" },
      },
    },
  },
);

export const TokenAnswer = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal("bearer"),
  expires_in: Type.Integer(),
  scope: Type.String(),
});

export const Integrator = Type.Object({ id: Type.String(), name: Type.String(), created: Timestamp });

const ORGANIZATION_ID = "^[A-Za-z0-9_-]{4,1024}$";

export const LockHolder = Type.Object({
  id: Type.String(),
  name: Type.String(),
  countryIso: Nullable(Type.String()),
  organizationId: Nullable(Type.String()),
  organizationIdSuffix: Nullable(Type.String()),
  created: Timestamp,
});

export const CreateLockHolder = Obj(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    countryIso: Type.Optional(Type.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2, e.g. NO" })),
    organizationId: Type.Optional(
      Type.String({ pattern: ORGANIZATION_ID, description: "4 to 1024 letters, digits, _ and -" }),
    ),
    organizationIdSuffix: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" })),
  },
  { examples: [{ name: "Storgata 1 housing co-op", countryIso: "NO", organizationId: "storgata-1" }] },
);

export const PatchLockHolder = Obj(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    countryIso: Type.Optional(Type.String({ pattern: "^[A-Z]{2}$" })),
  },
  { examples: [{ name: "Storgata 1 & 3 housing co-op" }] },
);

export const LockHolderList = Type.Object({ lockHolders: Type.Array(LockHolder), startAfterId: PageCursor });

export const Bridge = Type.Object({
  id: Type.String(),
  name: Nullable(Type.String()),
  online: Type.Boolean(),
  lastSeen: Nullable(Timestamp),
  version: Nullable(Type.String()),
  locksOnline: Nullable(Type.Integer()),
  created: Timestamp,
});

export const CreateBridge = Obj(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
  { examples: [{ name: "Storgata 1 basement gateway" }] },
);

export const CreatedBridge = Type.Object({
  bridgeId: Type.String(),
  secret: Type.String({ description: "shown once: put it in the bridge's config file" }),
  bridge: Bridge,
});

export const BridgeList = Type.Object({ bridges: Type.Array(Bridge), startAfterId: PageCursor });

export const IssuerKey = Type.Object({
  kid: Type.String({ description: "hex" }),
  x: Type.String({ description: "Ed25519 public key, hex" }),
  active: Type.Boolean({ description: "signs new tokens" }),
  created: Timestamp,
  rotated: Nullable(Timestamp),
  retired: Nullable(Timestamp),
});

export const IssuerKeyList = Type.Object({ issuerKeys: Type.Array(IssuerKey) });
