import { type Static, Type } from "@sinclair/typebox";
import type { ErrorExample } from "./common.js";
import { Obj, PageCursor, Timestamp } from "./common.js";

/**
 * Remote actions (docs/bridge-api.md "Remote actions", docs/design.md section 7 "Remote commands"): the Integrator API
 * side and the bridge's side.
 */

export const ACTION_STATUSES = ["pending", "sent", "succeeded", "failed", "expired"] as const;
export type ActionStatus = (typeof ACTION_STATUSES)[number];

export const ActionKind = Type.Union([Type.Literal("unlock"), Type.Literal("lock")]);
export type ActionKind = Static<typeof ActionKind>;

export const CreateAction = Obj(
  { action: ActionKind },
  {
    "x-examples": {
      unlock: { summary: "unlock now (the lock relocks by itself as after any unlock)", value: { action: "unlock" } },
      lock: { summary: "lock now", value: { action: "lock" } },
    },
  },
);
export type CreateAction = Static<typeof CreateAction>;

const EXAMPLE_ACTION = {
  id: "act_01kc3m4x5y6z7a8b9c0d1e2f3g",
  lockId: "sim-lock-001",
  action: "unlock",
  createdAt: "2027-01-15T08:00:00.000Z",
  expiresAt: "2027-01-15T08:01:00.000Z",
};

export const Action = Type.Object(
  {
    id: Type.String({ description: "act_…" }),
    lockId: Type.String(),
    action: ActionKind,
    status: Type.Union(
      ACTION_STATUSES.map((s) => Type.Literal(s)),
      {
        description:
          "pending: waiting for the lock's bridge; sent: the bridge has the signed command; succeeded: the lock's own " +
          "sealed report says it was done (eventId); failed: the bridge reported the lock unreachable or refusing " +
          "(error, the bridge's word); expired: not done within 60 s of creation. A lock's report proving it done " +
          "makes it succeeded even after failed or expired",
      },
    ),
    createdAt: Timestamp,
    expiresAt: Timestamp,
    completedAt: Type.Optional(Timestamp),
    eventId: Type.Optional(
      Type.String({ description: "the lock's event that proved it done (as in the events list)" }),
    ),
    error: Type.Optional(
      Type.Object({
        code: Type.String({
          description: "the bridge's code, e.g. unreachable, or the lock's refusal (stale_counter…)",
        }),
        message: Type.String(),
        reportedBy: Type.Literal("bridge"),
      }),
    ),
  },
  {
    "x-examples": {
      pending: {
        summary: "just created, for a lock served by a bridge",
        value: { ...EXAMPLE_ACTION, status: "pending" },
      },
      succeeded: {
        summary: "done: the lock reported it",
        value: {
          ...EXAMPLE_ACTION,
          status: "succeeded",
          completedAt: "2027-01-15T08:00:02.000Z",
          eventId: "5f2b8c1d9e0a4b7c8d6e5f4a3b2c1d0e",
        },
      },
      failed: {
        summary: "the bridge could not reach the lock",
        value: {
          ...EXAMPLE_ACTION,
          status: "failed",
          completedAt: "2027-01-15T08:00:05.000Z",
          error: { code: "unreachable", message: "the lock did not answer", reportedBy: "bridge" },
        },
      },
      expired: {
        summary: "nothing happened within 60 s",
        value: { ...EXAMPLE_ACTION, status: "expired", completedAt: "2027-01-15T08:01:00.000Z" },
      },
    },
  },
);
export type Action = Static<typeof Action>;

/**
 * An action as a list item: without Action's named examples, which @fastify/swagger would turn into the item schema's
 * single `example` (a map of examples, not an action: Redocly's lint refuses it). The list carries its own example.
 */
const { "x-examples": _namedExamples, ...ActionItem } = Action;

export const ActionList = Type.Object(
  { actions: Type.Array(ActionItem as typeof Action), startAfterId: PageCursor },
  { examples: [{ actions: [{ ...EXAMPLE_ACTION, status: "pending" }] }] },
);
export type ActionList = Static<typeof ActionList>;

const B64Url16 = Type.String({
  pattern: "^[A-Za-z0-9_-]{22}$",
  description: "the lock's command nonce (16 bytes, base64url, from its `command_nonce` answer)",
});

export const CommandRequest = Obj({ nonce: B64Url16 }, { examples: [{ nonce: "AAECAwQFBgcICQoLDA0ODw" }] });
export type CommandRequest = Static<typeof CommandRequest>;

export const CommandAnswer = Type.Object(
  {
    actionId: Type.String(),
    lockId: Type.String(),
    command: Type.String({
      description:
        "the signed remote command (COSE_Sign1 by the lock holder's authority over lock, nonce, counter, action; " +
        "docs/trust.md), base64url: hand it to the lock in a `remote` command",
    }),
  },
  {
    examples: [
      {
        actionId: EXAMPLE_ACTION.id,
        lockId: "sim-lock-001",
        command:
          "0oRYQ6MBJwRYIOIg5a1r6kVxQCg0DHH3qO2r1kdoh9cr0nW2fQ4s6J1lEHghYXBwbGljYXRpb24vbGF0Y2hrZXktY29tbWFuZCtjb3Nl",
      },
    ],
  },
);
export type CommandAnswer = Static<typeof CommandAnswer>;

export const ResultReport = Obj(
  {
    ok: Type.Boolean({
      description: "false: the only answer a bridge may give (true is 422: success is the lock's word)",
    }),
    code: Type.Optional(
      Type.String({
        pattern: "^[A-Za-z0-9_.:-]{1,64}$",
        description: "why: `unreachable`, `timeout`, or the lock's refusal code (e.g. `stale_counter`, `bad_nonce`)",
      }),
    ),
    message: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  },
  {
    "x-examples": {
      unreachable: {
        summary: "the lock could not be reached",
        value: { ok: false, code: "unreachable", message: "no answer to command_nonce within 10 s" },
      },
      refused: { summary: "the lock refused the command", value: { ok: false, code: "stale_counter" } },
    },
  },
);
export type ResultReport = Static<typeof ResultReport>;

/** Error examples shared by the action routes (docs/bridge-api.md "Remote actions"). */
export const ACTION_ERRORS = {
  notFoundLock: {
    summary: "not a lock of this lock holder (or not at all)",
    error: "not_found",
    errorDescription: 'lock "sim-lock-001" was not found',
  },
  notFoundAction: {
    summary: "no such action of a lock this caller may see",
    error: "not_found",
    errorDescription: "action was not found",
  },
  notClaimed: {
    summary: "the lock holder has not claimed the lock with its setup code",
    error: "lock_not_claimed",
    errorDescription:
      'lock "sim-lock-001" is not claimed by this lock holder; claim it with its setup code ' +
      "(POST /integrators/v1/lock-holders/{lockHolderId}/locks/claims) first",
  },
  connectionError: {
    summary: "the lock's vendor connection is in error",
    error: "vendor_connection_error",
    errorDescription:
      "the lock's vendor connection vc_… is in error (invalid vendor credentials): no keys can be created nor " +
      "actions run for its locks until its credentials are fixed (update-password) and it is refreshed",
  },
  closed: {
    name: "action_closed",
    summary: "the action already succeeded, failed or expired",
    error: "action_closed",
    errorDescription: "action act_… is expired (at 2027-01-15T08:01:00.000Z): nothing more is done for it",
  },
  issued: {
    summary: "a command was already signed for this action over another nonce",
    error: "command_already_issued",
    errorDescription:
      "action act_… already has its command (one per action, over the lock nonce first given); if the lock refused " +
      "it, report the failure and ask for a new action",
  },
  badRequest: {
    summary: "a field is missing or malformed",
    error: "invalid_request",
    errorDescription: "body.action: Expected union value",
  },
  successFromBridge: {
    summary: "a bridge cannot report success",
    error: "success_from_lock_only",
    errorDescription:
      "ok: a bridge cannot report success; the action succeeds when the lock's sealed report of its event, carrying " +
      "the command's binding, reaches POST /bridge/v1/reports",
  },
} satisfies Record<string, ErrorExample>;
