import { type Static, Type } from "@sinclair/typebox";
import { Nullable, Obj, PageCursor, Timestamp } from "./common.js";

export const VENDOR_STATES = ["connecting", "refreshing", "connected", "error", "disconnected"] as const;
export type VendorConnectionState = (typeof VENDOR_STATES)[number];

export const VendorConnection = Type.Object({
  id: Type.String(),
  vendor: Type.String(),
  state: Type.Union(VENDOR_STATES.map((s) => Type.Literal(s))),
  reason: Nullable(Type.String({ description: "why the connection is in error, as the bridge reported" })),
  username: Nullable(Type.String()),
  bridgeId: Nullable(Type.String()),
  created: Timestamp,
  updated: Timestamp,
});
export type VendorConnection = Static<typeof VendorConnection>;

export const VendorConnectionAnswer = Type.Object({ vendorConnection: VendorConnection });
export type VendorConnectionAnswer = Static<typeof VendorConnectionAnswer>;

const Credentials = {
  username: Type.String({ minLength: 1, maxLength: 200 }),
  password: Type.String({ minLength: 1, maxLength: 500 }),
  bridgeId: Type.String({ minLength: 1, maxLength: 128, description: "the bridge that serves this connection" }),
};

export const CreateVendorConnection = Type.Union(
  [
    Obj(
      {
        vendor: Type.Literal("virtual"),
        locksToCreate: Type.Integer({ minimum: 1, maximum: 100, description: "cloud-hosted test locks to create" }),
      },
      { title: "virtual" },
    ),
    Obj({ vendor: Type.Union([Type.Literal("sim"), Type.Literal("ble")]), ...Credentials }, { title: "sim / ble" }),
  ],
  {
    "x-examples": {
      virtual: { summary: "virtual test locks, no hardware", value: { vendor: "virtual", locksToCreate: 3 } },
      sim: {
        summary: "simulated locks served by a bridge",
        value: { vendor: "sim", username: "site-a", password: "site-a-password", bridgeId: "br_…" },
      },
      ble: {
        summary: "BLE locks served by a bridge",
        value: { vendor: "ble", username: "site-a", password: "site-a-password", bridgeId: "br_…" },
      },
    },
  },
);
export type CreateVendorConnection = Static<typeof CreateVendorConnection>;

export const UpdatePassword = Obj(
  { password: Type.String({ minLength: 1, maxLength: 500 }) },
  { examples: [{ password: "the-new-vendor-password" }] },
);
export type UpdatePassword = Static<typeof UpdatePassword>;

export const VendorConnectionList = Type.Object({
  vendorConnections: Type.Array(VendorConnection),
  startAfterId: PageCursor,
});
export type VendorConnectionList = Static<typeof VendorConnectionList>;

const Street = Type.String({ maxLength: 200 });
const PostalCode = Type.String({ maxLength: 32 });
const City = Type.String({ maxLength: 100 });
const CountryIso = Type.String({ pattern: "^[A-Z]{2}$" });
const Floor = Type.String({ maxLength: 32 });
const VisitorInstructions = Type.String({ maxLength: 1000 });

export const Address = Type.Object({
  street: Type.Optional(Street),
  postalCode: Type.Optional(PostalCode),
  city: Type.Optional(City),
  countryIso: Type.Optional(CountryIso),
  floor: Type.Optional(Floor),
  visitorInstructions: Type.Optional(VisitorInstructions),
});
export type Address = Static<typeof Address>;

/** A partial address: given fields replace the stored ones, a field set to null is removed. */
export const AddressPatch = Obj({
  street: Type.Optional(Nullable(Street)),
  postalCode: Type.Optional(Nullable(PostalCode)),
  city: Type.Optional(Nullable(City)),
  countryIso: Type.Optional(Nullable(CountryIso)),
  floor: Type.Optional(Nullable(Floor)),
  visitorInstructions: Type.Optional(Nullable(VisitorInstructions)),
});
export type AddressPatch = Static<typeof AddressPatch>;

export const Battery = Type.Object({
  level: Type.Integer({ minimum: 0, maximum: 100, description: "percent" }),
  state: Type.Union([Type.Literal("ok"), Type.Literal("low"), Type.Literal("critical")]),
  updatedAt: Timestamp,
});
export type Battery = Static<typeof Battery>;
export type BatteryState = Battery["state"];

/** docs/trust.md "Cloud", Claim. */
export const ClaimStatus = Type.Union([Type.Literal("pending"), Type.Literal("confirmed")], {
  description:
    "`pending` until the lock proves it accepted this lock holder's authority under this claim (its authenticated " +
    "report of applying a state signed for the claim, which carried a pin tag made with the code's claim secret); then " +
    "`confirmed`, and every other lock holder's claim of the id is dropped. Keys may be made on a pending claim (the " +
    "lock opens for them once it has applied the holder's state). Virtual locks: `confirmed` by construction",
});
export type ClaimStatus = Static<typeof ClaimStatus>;

export const Lock = Type.Object({
  id: Type.String(),
  name: Type.String(),
  vendor: Type.String(),
  vendorConnectionId: Type.String(),
  imageUrl: Nullable(Type.String()),
  address: Nullable(Address),
  timezone: Nullable(Type.String()),
  created: Timestamp,
  battery: Type.Union([Battery, Type.Null()], {
    description:
      "the lock's latest battery reading (low at or below 20 %, critical at or below 5 %); null until it reports " +
      "one. Virtual locks simulate one: 90 to 100 % at creation, a percent less every three days, read anew each " +
      "time the lock is used; crossing into low or critical queues `lock.battery_low` / `lock.battery_critical`",
  }),
  online: Type.Boolean({
    description:
      "the presence its bridge last reported (the bridge's word, not the lock's), and false while that bridge has " +
      "been silent (no heartbeat or report) longer than the bridge offline threshold, 90 s by default. Each change " +
      "queues `lock.online` / `lock.offline`, at most one per lock a minute (docs/webhooks.md, Presence)",
  }),
  claimed: Type.Boolean({
    description:
      "this lock holder claimed it with its setup code, pending or confirmed (virtual locks: by construction); " +
      "docs/trust.md, Cloud",
  }),
  claim: Type.Union([ClaimStatus, Type.Null()], {
    description: "this lock holder's claim of the lock: pending or confirmed; null: not claimed by this lock holder",
  }),
  stateV: Nullable(Type.Integer({ description: "the v of the lock's latest signed state; null: none signed yet" })),
  maxStale: Nullable(Type.Integer({ description: "seconds; the lock fails closed once its state is older" })),
});
export type Lock = Static<typeof Lock>;

export const LockList = Type.Object({ locks: Type.Array(Lock), startAfterId: PageCursor });
export type LockList = Static<typeof LockList>;

/** One lock, with what its authenticated reports say (docs/reports.md "Cloud"). */
export const LockDetail = Type.Composite([
  Lock,
  Type.Object({
    missingEvents: Type.Integer({
      minimum: 0,
      description:
        "event seqs known missing: never stored from a verified report although a later one was (a courier dropped " +
        "or withholds them; the lock keeps them until the signed ack covers them). 0 for a lock without reports",
    }),
  }),
]);
export type LockDetail = Static<typeof LockDetail>;

export const LockListQuery = Obj({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 2500, default: 2500 })),
  startAfterId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  sort: Type.Optional(Type.Union([Type.Literal("name"), Type.Literal("created")], { default: "created" })),
  order: Type.Optional(Type.Union([Type.Literal("asc"), Type.Literal("desc")], { default: "asc" })),
});
export type LockListQuery = Static<typeof LockListQuery>;

export const PatchLock = Obj(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    imageUrl: Type.Optional(Nullable(Type.String({ format: "uri", maxLength: 2000 }))),
    address: Type.Optional(Nullable(AddressPatch)),
    timezone: Type.Optional(
      Nullable(Type.String({ minLength: 1, maxLength: 64, description: "IANA, e.g. Europe/Oslo" })),
    ),
    maxStale: Type.Optional(
      Nullable(
        Type.Integer({
          minimum: 60,
          maximum: 31_536_000,
          description:
            "claimed locks only: seconds after which the lock opens nothing until a newer signed state reaches it " +
            "(null: never; docs/trust.md, Applying a state)",
        }),
      ),
    ),
  },
  {
    "x-examples": {
      maxStale: { summary: "fail closed after a day without a new state", value: { maxStale: 86400 } },
      rename: { summary: "rename", value: { name: "Front door" } },
      address: {
        summary: "set part of the address",
        value: { address: { street: "Storgata 1", postalCode: "0155", city: "Oslo", countryIso: "NO" } },
      },
      removeAddress: { summary: "remove the address", value: { address: null } },
      removeFloor: { summary: "remove one address field", value: { address: { floor: null } } },
    },
  },
);
export type PatchLock = Static<typeof PatchLock>;

export const ClaimLock = Obj(
  {
    setupCode: Type.String({
      minLength: 1,
      maxLength: 512,
      description: "the lock's printed setup code (`LK1:…`); case, spaces and hyphens are forgiven",
    }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  {
    examples: [
      {
        setupCode: "LK1:QNWHG2LNFVWG6Y3LFUYDAMKQLJNFUWS2LJNFUWS2LJNFUWS2LJIKLJNFUWS2LJNFUWS2LJNFUWS2LGV2SQRA",
        name: "Front door",
      },
    ],
  },
);
export type ClaimLock = Static<typeof ClaimLock>;

export const ClaimedLock = Type.Object({
  lockId: Type.String(),
  name: Type.String(),
  claimed: Type.Literal(true),
  claim: ClaimStatus,
  claimedAt: Timestamp,
  keysReported: Type.Boolean({ description: "a report of the lock carried public keys matching the setup code" }),
  stateV: Nullable(Type.Integer()),
});
export type ClaimedLock = Static<typeof ClaimedLock>;

export const Authority = Type.Object({
  publicKey: Type.String({ description: "Ed25519, 32 bytes hex: the key the lock holder's locks pin" }),
  created: Timestamp,
  handOver: Nullable(
    Type.String({ description: "base64url: the hand-over the previous authority signed to this one, if any" }),
  ),
  locksBehind: Type.Integer({ description: "claimed locks that have not yet reported this authority" }),
});
export type Authority = Static<typeof Authority>;
