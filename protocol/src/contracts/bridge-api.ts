import { type Static, type TProperties, Type } from "@sinclair/typebox";
import { LOCK_ID_PATTERN } from "../messages/fields.js";
import { ActionKind } from "./actions.js";
import { Obj, Timestamp } from "./common.js";
import { VENDOR_STATES } from "./connections.js";

const LockId = Type.String({ pattern: LOCK_ID_PATTERN.source, description: "lock id" });
const Seconds = Type.Integer({ minimum: 0, maximum: 253402300799 });
/** A counter from a bridge or lock: bounded, so it stays exact in JavaScript and fits PostgreSQL's BIGINT (1e308 does not). */
const Count = () => Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const ChangesQuery = Obj({
  cursor: Type.Optional(Type.String({ maxLength: 64 })),
  wait: Type.Optional(Type.Number({ minimum: 0, maximum: 30, default: 0, description: "long-poll seconds" })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 500 })),
});
export type ChangesQuery = Static<typeof ChangesQuery>;

export const ChangesAnswer = Type.Object({
  cursor: Type.String(),
  changes: Type.Array(Type.Object({ seq: Type.Integer(), kind: Type.String() }, { additionalProperties: true })),
  more: Type.Boolean(),
});
export type ChangesAnswer = Static<typeof ChangesAnswer>;

/**
 * A change-feed page as a bridge reads it: the entries stay raw here, each is checked on its own when applied
 * (`FeedChange`), so one malformed entry is skipped without holding back the page behind it.
 */
export const ChangesPage = Type.Object({ ...ChangesAnswer.properties, changes: Type.Array(Type.Unknown()) });
export type ChangesPage = Static<typeof ChangesPage>;

// The feed's entries (docs/bridge-api.md "Change feed"). Open objects: a newer cloud may add fields a bridge ignores.
const Seq = Type.Integer({ minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER });
const FeedId = Type.String({ minLength: 1, maxLength: 128 });
const Entry = <K extends string, P extends TProperties>(kind: K, properties: P) =>
  Type.Object({ seq: Seq, kind: Type.Literal(kind), ...properties });

export const VendorConnectionChange = Entry("vendor_connection", {
  vendorConnection: Type.Object({
    id: FeedId,
    lockHolderId: FeedId,
    vendor: Type.String({ minLength: 1, maxLength: 64 }),
    username: Type.String(),
    credentialCheck: Type.Object({ salt: Type.String(), digest: Type.String() }),
    state: Type.Union(VENDOR_STATES.map((s) => Type.Literal(s))),
    deleted: Type.Boolean(),
  }),
});
export type VendorConnectionChange = Static<typeof VendorConnectionChange>;

/**
 * `issuer` and `key` entries: a bridge keeps nothing of them (the cloud signs keys and issuer keys into each lock's
 * state), they only mean locks' signed states changed, so their other fields are not part of what a bridge checks.
 */
export const IssuerChange = Entry("issuer", {});
export type IssuerChange = Static<typeof IssuerChange>;
export const KeyChange = Entry("key", {});
export type KeyChange = Static<typeof KeyChange>;

export const LockChange = Entry("lock", {
  lockId: LockId,
  vendorConnectionId: FeedId,
  lockHolderId: FeedId,
  removed: Type.Boolean(),
  claimed: Type.Optional(
    Type.Boolean({ description: "claimed by the connection's lock holder (absent from a cloud before claims)" }),
  ),
});
export type LockChange = Static<typeof LockChange>;

/** A remote action for a lock the bridge serves (docs/bridge-api.md "Remote actions"); never carried after expiresAt. */
export const ActionChange = Entry("action", {
  actionId: FeedId,
  lockId: LockId,
  action: ActionKind,
  expiresAt: Timestamp,
});
export type ActionChange = Static<typeof ActionChange>;

/** The entry schema of each kind a bridge acts on; any other kind is a newer cloud's, skipped. */
export const FEED_CHANGES = {
  vendor_connection: VendorConnectionChange,
  issuer: IssuerChange,
  key: KeyChange,
  lock: LockChange,
  action: ActionChange,
} as const;
export type FeedChange = Static<(typeof FEED_CHANGES)[keyof typeof FEED_CHANGES]>;

export const StateReport = Obj(
  {
    state: Type.Union([Type.Literal("connected"), Type.Literal("error"), Type.Literal("disconnected")]),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  {
    "x-examples": {
      connected: { value: { state: "connected" } },
      error: { value: { state: "error", reason: "invalid vendor credentials" } },
    },
  },
);
export type StateReport = Static<typeof StateReport>;

export const FoundLocks = Obj(
  {
    locks: Type.Array(Obj({ id: LockId, name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }), {
      maxItems: 10_000,
    }),
  },
  { examples: [{ locks: [{ id: "sim-lock-001", name: "Front door" }, { id: "sim-lock-002" }] }] },
);
export type FoundLocks = Static<typeof FoundLocks>;

export const FoundLocksAnswer = Type.Object({
  locks: Type.Array(
    Type.Object({
      id: Type.String(),
      status: Type.Union([Type.Literal("created"), Type.Literal("existing"), Type.Literal("conflict")]),
    }),
  ),
});
export type FoundLocksAnswer = Static<typeof FoundLocksAnswer>;

export const IngestPresence = Obj({ lockId: LockId, online: Type.Boolean(), ts: Seconds });
export type IngestPresence = Static<typeof IngestPresence>;

export const MAX_INGEST_ITEMS = 1000;

/**
 * Fields `POST /bridge/v1/ingest` took before the switch-over: events and telemetry now reach the cloud only as the
 * lock's sealed reports (`POST /bridge/v1/reports`), so the route refuses them by name (docs/bridge-api.md).
 */
export const REMOVED_INGEST_FIELDS = ["events", "telemetry"] as const;

export const IngestBatch = Obj(
  {
    presence: Type.Optional(
      Type.Array(IngestPresence, {
        maxItems: MAX_INGEST_ITEMS,
        description: "the bridge's word that a lock is online or offline (its MQTT status), labelled so",
      }),
    ),
  },
  { examples: [{ presence: [{ lockId: "sim-lock-001", online: true, ts: 1_800_000_000 }] }] },
);
export type IngestBatch = Static<typeof IngestBatch>;

export const IngestAnswer = Type.Object(
  { presence: Type.Object({ stored: Type.Integer() }) },
  { examples: [{ presence: { stored: 1 } }] },
);
export type IngestAnswer = Static<typeof IngestAnswer>;

export const Heartbeat = Obj(
  {
    version: Type.String({ minLength: 1, maxLength: 64 }),
    locksOnline: Type.Optional(Count()),
  },
  { examples: [{ version: "0.1.0", locksOnline: 3 }] },
);
export type Heartbeat = Static<typeof Heartbeat>;

const B64Url = (description: string, maxLength: number) =>
  Type.String({ pattern: "^[A-Za-z0-9_-]+$", minLength: 1, maxLength, description });

export const LockStateAnswer = Type.Object(
  {
    lockId: Type.String(),
    v: Type.Integer({ description: "the state's version: new for every signature, strictly increasing" }),
    iat: Type.Integer({ description: "unix seconds the cloud signed it" }),
    state: B64Url("the signed state (COSE_Sign1, docs/trust.md), base64url", 4800),
  },
  {
    examples: [
      {
        lockId: "sim-lock-001",
        v: 1796630400000,
        iat: 1796630400,
        state:
          "0oRYQ6MBJwRYIOIg5a1r6kVxQCg0DHH3qO2r1kdoh9cr0nW2fQ4s6J1lEHghYXBwbGljYXRpb24vbGF0Y2hrZXktc3RhdGUrY29zZaBY",
      },
    ],
  },
);
export type LockStateAnswer = Static<typeof LockStateAnswer>;

export const TimeRequestBody = Obj(
  { request: B64Url("the lock's time request (CBOR {1: lock, 2: nonce}), base64url", 256) },
  { examples: [{ request: "ogFsc2ltLWxvY2stMDAxAlAAAQIDBAUGBwgJCgsMDQ4P" }] },
);
export type TimeRequestBody = Static<typeof TimeRequestBody>;

export const TimeAnswerBody = Type.Object(
  {
    lockId: Type.String(),
    answer: B64Url("the signed time answer (COSE_Sign1, docs/trust.md), base64url", 800),
  },
  {
    examples: [
      {
        lockId: "sim-lock-001",
        answer: "0oRYQ6MBJwRYIOIg5a1r6kVxQCg0DHH3qO2r1kdoh9cr0nW2fQ4s6J1lEHghYXBwbGljYXRpb24v",
      },
    ],
  },
);
export type TimeAnswerBody = Static<typeof TimeAnswerBody>;

/** base64url of the largest report (docs/reports.md: 4,352 bytes), unpadded. */
const MAX_REPORT_TEXT = Math.ceil((4352 * 4) / 3);
export const MAX_REPORT_ITEMS = 1000;

// Item fields are checked loosely here and strictly per item, so one bad item is refused with a verdict instead of
// refusing the honest items of the batch (docs/bridge-api.md "Reports from the lock").
export const ReportUpload = Obj(
  {
    items: Type.Array(
      Obj({
        lockId: Type.String({ minLength: 1, maxLength: 64, description: "the lock the item was delivered for" }),
        report: Type.String({
          minLength: 1,
          maxLength: MAX_REPORT_TEXT,
          description: "base64url of the report's COSE_Mac0 bytes (docs/reports.md)",
        }),
        keys: Type.Optional(
          Obj({
            identity: Type.String({ maxLength: 64, description: "the lock's Ed25519 public key, base64url" }),
            x25519: Type.String({ maxLength: 64, description: "the lock's X25519 public key, base64url" }),
          }),
        ),
      }),
      { maxItems: MAX_REPORT_ITEMS },
    ),
  },
  {
    examples: [{ items: [{ lockId: "sim-lock-001", report: "0ViEWDOkAQUEQ..." }] }],
  },
);
export type ReportUpload = Static<typeof ReportUpload>;

/** Verdicts of `POST /bridge/v1/reports` (docs/bridge-api.md "Reports from the lock"). */
export const REPORT_VERDICTS = [
  "ok",
  "duplicate",
  "forged",
  "wrong_lock",
  "replayed",
  "malformed",
  "unknown_key",
  "unclaimed",
] as const;
export type ReportVerdict = (typeof REPORT_VERDICTS)[number];
// An enum rather than a union of literals: the answer has up to 1000 of them, and the serializer checks each branch
// of a union one by one.
const Verdict = Type.String({ enum: [...REPORT_VERDICTS], description: 'docs/bridge-api.md "Reports from the lock"' });

export const ReportUploadAnswer = Type.Object({
  results: Type.Array(Type.Object({ index: Type.Integer(), verdict: Verdict, message: Type.Optional(Type.String()) })),
  counts: Type.Object(Object.fromEntries(REPORT_VERDICTS.map((v) => [v, Type.Integer()]))),
  gaps: Type.Array(
    Type.Object({
      lockId: Type.String(),
      missing: Type.Integer({ description: "report counters skipped in this batch: reports lost for good" }),
    }),
  ),
});
export type ReportUploadAnswer = Static<typeof ReportUploadAnswer>;
