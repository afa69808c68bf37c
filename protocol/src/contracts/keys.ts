import { type Static, Type } from "@sinclair/typebox";
import { IsoTime, Nullable, Obj, PageCursor, PageQuery, Timestamp } from "./common.js";

export const KEY_STATES = ["creating", "scheduled", "active", "expired", "error", "revoked"] as const;
export type KeyState = (typeof KEY_STATES)[number];

export const JOB_STATUSES = ["pending", "running", "succeeded", "failed"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * A job's outcome in Unloc's words (issue 14, docs/webhooks.md "Batch jobs"): `inProgress` until it ends, then
 * `completed` (every item created), `partiallyFailed` (some items failed), `failedValidation` (every item was refused
 * when its turn came: lock removed, not claimed, vendor connection in error) or `failedJob` (the job itself broke).
 */
export const JOB_STATES = ["inProgress", "completed", "partiallyFailed", "failedValidation", "failedJob"] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Why a batch item was not created: a stable code and a message naming the lock or connection. */
export const JOB_ITEM_ERROR_CODES = [
  "key_gone",
  "key_revoked",
  "key_not_creating",
  "lock_removed",
  "lock_not_claimed",
  "vendor_connection_deleted",
  "vendor_connection_error",
] as const;
export type JobItemErrorCode = (typeof JOB_ITEM_ERROR_CODES)[number];

export const JobItemError = Type.Object({
  index: Type.Integer({ description: "the item's index in the batch request" }),
  keyId: Type.Optional(Type.String()),
  code: Type.Union(
    JOB_ITEM_ERROR_CODES.map((c) => Type.Literal(c)),
    { description: "vendor_connection_error is the 403 reason single key creation answers for the same lock" },
  ),
  message: Type.String(),
});
export type JobItemError = Static<typeof JobItemError>;

/** A key's start or end: a date-time, or null for its default. */
const KeyTime = (description: string, examples: string[]) =>
  Type.Optional(Type.Union([IsoTime, Type.Null()], { description, examples }));

/** One window of a weekday, in the lock's timezone; an end at or before the start runs past midnight. */
const RecurrenceWindow = Obj(
  {
    startHour: Type.Integer({ minimum: 0, maximum: 23 }),
    startMinute: Type.Integer({ minimum: 0, maximum: 59 }),
    endHour: Type.Integer({ minimum: 0, maximum: 24, description: "24 (with endMinute 0) is the end of the day" }),
    endMinute: Type.Integer({ minimum: 0, maximum: 59 }),
  },
  { examples: [{ startHour: 8, startMinute: 0, endHour: 12, endMinute: 30 }] },
);
const DayWindows = Type.Optional(Type.Array(RecurrenceWindow, { minItems: 1, maxItems: 4 }));

/**
 * Unloc v1's recurrence, per weekday, beyond Unloc enforced by the lock itself with no network: the windows travel in
 * the key token and the lock reads them in its own timezone (docs/design.md section 2 "Schedule"), DST included.
 */
export const Recurrence = Obj(
  {
    monday: DayWindows,
    tuesday: DayWindows,
    wednesday: DayWindows,
    thursday: DayWindows,
    friday: DayWindows,
    saturday: DayWindows,
    sunday: DayWindows,
  },
  {
    minProperties: 1,
    description:
      "weekly windows in the lock's timezone (the lock must have one: 422 lock_timezone_required); outside them the " +
      "lock refuses the key offline (`outside_schedule`). Up to 4 windows a day; one ending at or before its start " +
      "runs past midnight into the next day",
    examples: [{ tuesday: [{ startHour: 8, startMinute: 0, endHour: 12, endMinute: 0 }] }],
  },
);
export type Recurrence = Static<typeof Recurrence>;

const KeyFields = {
  userId: Type.String({
    minLength: 1,
    maxLength: 32,
    description:
      "the key holder's mobile number; E.164 (+4791234567) or national in the lock holder's country. A landline " +
      "(+4722123456) or other non-mobile number is refused (422)",
  }),
  userName: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 100,
      description: "the key holder's name, as Unloc's toUser name: shown on the key and on its events (userName)",
      examples: ["Kari Nordmann"],
    }),
  ),
  start: KeyTime(
    "when the key starts; null or left out: now. Any RFC 3339 date-time with an offset; a fraction of a second " +
      "(2030-01-01T08:00:00.250Z) is rounded down to the whole second, since key tokens carry unix seconds",
    ["2030-01-01T08:00:00Z", "2030-01-01T09:00:00.250+01:00"],
  ),
  end: KeyTime(
    "when the key ends; null or left out (and no durationMinutes): never. Any RFC 3339 date-time with an " +
      "offset; a fraction of a second is rounded up to the whole second, so the key lasts at least until then",
    ["2030-01-08T08:00:00Z", "2030-01-08T08:00:00.750Z"],
  ),
  durationMinutes: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 52_560_000,
      description: "instead of end: the key lasts this long from start",
    }),
  ),
  metadata: Type.Optional(
    Type.Object(
      {},
      { additionalProperties: true, description: "your own JSON object, at most 4 KiB; never in tokens" },
    ),
  ),
  skipInviteNotification: Type.Optional(Type.Boolean()),
  recurrence: Type.Optional(Nullable(Recurrence)),
};

export const LockIdField = Type.String({ minLength: 1, maxLength: 64 });

export const CreateKeyOnLock = Obj(KeyFields, {
  "x-examples": {
    withEnd: {
      summary: "key with start and end",
      value: { userId: "+4791234567", start: "2030-01-01T08:00:00Z", end: "2030-01-08T08:00:00Z" },
    },
    withDuration: {
      summary: "key for 90 minutes from now",
      value: { userId: "+4791234567", durationMinutes: 90 },
    },
    withMetadata: {
      summary: "open-ended key with the holder's name and metadata",
      value: { userId: "+4791234567", userName: "Kari Nordmann", metadata: { bookingId: "B-1042", unit: "3A" } },
    },
  },
});
export type CreateKeyOnLock = Static<typeof CreateKeyOnLock>;

export const CreateKeyWithLockId = Obj(
  { lockId: LockIdField, ...KeyFields },
  {
    "x-examples": {
      withEnd: {
        summary: "key with the lock id in the body",
        value: { lockId: "virtual-…", userId: "+4791234567", end: "2030-01-08T08:00:00Z" },
      },
      withDuration: {
        summary: "lock id in the body, 90 minutes",
        value: { lockId: "virtual-…", userId: "+4791234567", durationMinutes: 90 },
      },
    },
  },
);
export type CreateKeyWithLockId = Static<typeof CreateKeyWithLockId>;

export const BatchCreateKeys = Obj(
  { keys: Type.Array(Obj({ lockId: LockIdField, ...KeyFields }), { minItems: 1, maxItems: 1000 }) },
  {
    "x-examples": {
      batch: {
        summary: "two keys on two locks",
        value: {
          keys: [
            { lockId: "virtual-…", userId: "+4791234567", userName: "Kari Nordmann", durationMinutes: 60 },
            { lockId: "virtual-…", userId: "+4798765432", end: "2030-01-08T08:00:00Z" },
          ],
        },
      },
    },
  },
);
export type BatchCreateKeys = Static<typeof BatchCreateKeys>;

export const Key = Type.Object({
  id: Type.String(),
  lockId: Type.String(),
  toUser: Type.Object({
    id: Type.String(),
    name: Type.Optional(Type.String({ description: "the userName given at creation, if any" })),
  }),
  userId: Type.String(),
  userName: Nullable(Type.String({ description: "the key holder's name given at creation; null if none" })),
  start: Timestamp,
  end: Nullable(Timestamp),
  created: Timestamp,
  edited: Nullable(
    Type.String({
      format: "date-time",
      description: "when the key was last edited (PATCH), to the second, ISO 8601 UTC; null if never edited",
    }),
  ),
  state: Type.Union(KEY_STATES.map((s) => Type.Literal(s))),
  error: Type.Optional(Type.String()),
  metadata: Nullable(Type.Object({}, { additionalProperties: true })),
  recurrence: Nullable(Recurrence),
  useKeyUrl: Type.String(),
});
export type Key = Static<typeof Key>;

export const KeyList = Type.Object({ keys: Type.Array(Key), startAfterId: PageCursor });
export type KeyList = Static<typeof KeyList>;

/** Key list filters (issue 14); they combine (AND). */
export const KeyListQuery = Obj({
  ...PageQuery,
  lockId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "only keys of this lock" })),
  userId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 32,
      description: "only keys of this holder: E.164 or national in the lock holder's country",
      examples: ["+4791234567"],
    }),
  ),
  state: Type.Optional(
    Type.Union(
      KEY_STATES.map((s) => Type.Literal(s)),
      { description: "only keys in this state now" },
    ),
  ),
});
export type KeyListQuery = Static<typeof KeyListQuery>;

export const UpdateKey = Obj({ state: Type.Literal("revoked") }, { examples: [{ state: "revoked" }] });
export type UpdateKey = Static<typeof UpdateKey>;

/**
 * A key edit (issue 14): any of the terms given at creation but the holder and lock; what is left out is kept. The key
 * keeps its id; tokens minted before an edit that narrows it (a later start, an earlier end, a new recurrence) are
 * refused at the lock, and the holder's next prefetch brings the new terms.
 */
const { userName, start, end, durationMinutes, metadata, recurrence } = KeyFields;
export const EditKey = Obj(
  { userName, start, end, durationMinutes, metadata, recurrence },
  {
    minProperties: 1,
    "x-examples": {
      shorten: { summary: "end the key earlier", value: { end: "2030-01-05T08:00:00Z" } },
      weekdays: {
        summary: "mornings on weekdays only",
        value: { recurrence: { monday: [{ startHour: 8, startMinute: 0, endHour: 12, endMinute: 0 }] } },
      },
      metadata: { summary: "metadata only: no token changes", value: { metadata: { bookingId: "B-1043" } } },
    },
  },
);
export type EditKey = Static<typeof EditKey>;

export const JobAccepted = Type.Object({ jobId: Type.String() });
export type JobAccepted = Static<typeof JobAccepted>;

export const Job = Type.Object({
  id: Type.String(),
  status: Type.Union(
    JOB_STATUSES.map((s) => Type.Literal(s)),
    { description: "pending, running, then succeeded (at least one key created) or failed (none was); see state" },
  ),
  state: Type.Union(
    JOB_STATES.map((s) => Type.Literal(s)),
    {
      description:
        "inProgress until the job ends; then completed, partiallyFailed (some items failed: see errors), " +
        "failedValidation (every item was refused: see errors) or failedJob (the job itself broke)",
    },
  ),
  total: Type.Integer(),
  done: Type.Integer(),
  results: Type.Array(
    Type.Object({ index: Type.Integer(), keyId: Type.Optional(Type.String()), error: Type.Optional(Type.String()) }),
  ),
  errors: Type.Array(JobItemError, { description: "the failed items so far, by index" }),
  created: Timestamp,
  updated: Timestamp,
});
export type Job = Static<typeof Job>;
