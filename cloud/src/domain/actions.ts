import {
  commandResultBinding,
  fromHex,
  NONCE_BYTES,
  NonceBook,
  type RemoteAction,
  resultMatchesCommand,
  signRemoteCommand,
  toHex,
  verifyRemoteCommand,
} from "@latchkey/protocol";
import { iso } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../context.js";
import { FeedWriter } from "../feed/changes.js";
import type {
  AuthorityRecord,
  LockHolderRecord,
  LockRecord,
  RemoteActionRecord,
  RemoteActionStatus,
} from "../store/records.js";
import type { Tx } from "../store/store.js";
import { authorityFor, authoritySecret } from "./authority.js";
import { assertClaimed, claimedByHolder } from "./claims.js";
import { conflict, invalid, notFound, unprocessable } from "./errors.js";
import { storeLockEvent } from "./events.js";
import { assertConnectionUsable } from "./keys.js";

/**
 * Remote actions (docs/design.md section 7 "Remote commands", docs/bridge-api.md "Remote actions"): an integrator asks
 * a lock to unlock or lock; the lock's bridge fetches a fresh nonce from the lock and asks the cloud for the command,
 * which the lock holder's authority signs over (lock, nonce, counter, action) with the lock's next command counter;
 * the lock verifies it itself. The action succeeds only on the lock's word: a sealed report whose `unlocked`/`locked`
 * event carries sha256 of that nonce. A bridge can report a failure (its word, labelled so), never a success.
 */

/** How long an action may take, from its creation: after it no command is signed for it. */
export const ACTION_TTL_MS = 60_000;

const OPEN: ReadonlySet<RemoteActionStatus> = new Set(["pending", "sent"]);
const EVENT_OF: Record<RemoteAction, string> = { unlock: "unlocked", lock: "locked" };

/** The status now: an open action whose time ran out is expired, whether or not the worker has written it yet. */
export const statusAt = (a: RemoteActionRecord, now: number): RemoteActionStatus =>
  OPEN.has(a.status) && now >= a.expiresAt ? "expired" : a.status;

/** An action as the Integrator API shows it: never its nonce, counter or command. */
export function actionView(a: RemoteActionRecord, now: number) {
  const status = statusAt(a, now);
  const completedAt = status === "expired" && a.completedAt === null ? a.expiresAt : a.completedAt;
  return {
    id: a.id,
    lockId: a.lockId,
    action: a.action,
    status,
    createdAt: iso(a.createdAt),
    expiresAt: iso(a.expiresAt),
    ...(completedAt !== null ? { completedAt: iso(completedAt) } : {}),
    ...(a.eventId !== null ? { eventId: a.eventId } : {}),
    ...(a.errorCode !== null
      ? { error: { code: a.errorCode, message: a.errorMessage ?? a.errorCode, reportedBy: "bridge" as const } }
      : {}),
  };
}

/** The authority's signature over a command; its private key is zeroed at once. */
function signCommand(ctx: CloudContext, authority: AuthorityRecord, command: Parameters<typeof signRemoteCommand>[0]) {
  const secretKey = authoritySecret(ctx, authority);
  try {
    return signRemoteCommand(command, secretKey);
  } finally {
    secretKey.fill(0);
  }
}

/**
 * Creates an action on a lock of `lh`: claimed (409 `lock_not_claimed`), its connection not in error (403). A lock
 * served by a bridge gets a `pending` action and an `action` entry on that bridge's feed. A virtual lock (the cloud is
 * the lock) runs it at once through the same signed command, verified as a lock would, and answers it `succeeded`.
 */
export async function createAction(
  tx: Tx,
  ctx: CloudContext,
  lh: LockHolderRecord,
  lock: LockRecord,
  action: RemoteAction,
): Promise<RemoteActionRecord> {
  await assertClaimed(tx, lock);
  const vc = await assertConnectionUsable(tx, lock);
  const now = ctx.clock.now();
  const record: RemoteActionRecord = {
    id: ctx.ids.next("act"),
    lockHolderId: lh.id,
    lockId: lock.id,
    action,
    status: "pending",
    createdAt: now,
    expiresAt: now + ACTION_TTL_MS,
    completedAt: null,
    eventId: null,
    errorCode: null,
    errorMessage: null,
    nonce: null,
    counter: null,
    command: null,
    binding: null,
  };
  if (lock.vendor === "virtual") return runOnVirtualLock(tx, ctx, lock, record);
  await tx.remoteActions.insert(record);
  await new FeedWriter(tx, ctx).action(record, vc.id);
  return record;
}

/**
 * The virtual lock does what a lock does with a remote command: a nonce from its own command book, the authority's
 * signature verified with `verifyRemoteCommand` against its last counter, then the act and its event with the
 * command's binding (an `unlocked`/`locked` event with webhooks like any other).
 */
async function runOnVirtualLock(
  tx: Tx,
  ctx: CloudContext,
  lock: LockRecord,
  record: RemoteActionRecord,
): Promise<RemoteActionRecord> {
  const now = record.createdAt;
  const nonces = new NonceBook();
  const nonce = nonces.issue(ctx.random(NONCE_BYTES), now);
  const { previous, next } = await tx.remoteActions.nextCounter(lock.id, now);
  const authority = await authorityFor(tx, ctx, lock.lockHolderId);
  const command = signCommand(ctx, authority, { lock: lock.id, nonce, counter: next, action: record.action });
  const verdict = verifyRemoteCommand(command, {
    lockId: lock.id,
    authority: fromHex(authority.publicKey),
    nonces,
    nowMs: now,
    lastCounter: previous,
  });
  if (!verdict.ok) throw new Error(`the virtual lock refused its own command: ${verdict.code} (${verdict.message})`);
  const eventId = toHex(ctx.random(16));
  await storeLockEvent(tx, ctx, lock, {
    id: eventId,
    seq: await tx.locks.nextEventSeq(lock.id),
    tsS: Math.floor(now / 1000),
    type: EVENT_OF[record.action],
    cti: null,
    code: null,
    dropped: null,
    v: null,
  });
  const done: RemoteActionRecord = {
    ...record,
    status: "succeeded",
    completedAt: now,
    eventId,
    nonce: toHex(nonce),
    counter: next,
    command: toHex(command),
    binding: toHex(commandResultBinding(nonce)),
  };
  await tx.remoteActions.insert(done);
  return done;
}

/** The action of one of the lock holder's locks (404 otherwise, as for any id that is not theirs). */
export async function actionOf(tx: Tx, lock: LockRecord, actionId: string): Promise<RemoteActionRecord> {
  const action = await tx.remoteActions.get(actionId);
  if (!action || action.lockId !== lock.id || action.lockHolderId !== lock.lockHolderId) throw notFound("action");
  return action;
}

/**
 * An action of a lock this bridge serves now: the lock under one of its live connections and claimed by its lock
 * holder. Anything else is 404, as for an id that does not exist (no other tenant's action is confirmed).
 */
async function servedAction(
  tx: Tx,
  bridge: { bridgeId: string; lockHolderId: string },
  actionId: string,
): Promise<RemoteActionRecord> {
  const action = await tx.remoteActions.get(actionId);
  const lock = action && (await tx.locks.get(action.lockId));
  const vc = lock && lock.removedAt === null ? await tx.vendorConnections.get(lock.vendorConnectionId) : undefined;
  const served =
    action !== undefined &&
    lock !== undefined &&
    vc !== undefined &&
    vc.bridgeId === bridge.bridgeId &&
    vc.deletedAt === null &&
    lock.lockHolderId === action.lockHolderId &&
    (await claimedByHolder(tx, lock));
  if (!served) throw notFound("action");
  return action;
}

const closed = (a: RemoteActionRecord, status: RemoteActionStatus) =>
  conflict(
    `action ${a.id} is ${status}${status === "expired" ? ` (at ${iso(a.expiresAt)})` : ""}: nothing more is done for it`,
    "action_closed",
  );

/**
 * The command for an action, signed over the lock's own fresh nonce (`POST /bridge/v1/actions/{id}/command`). The
 * first request signs with the lock's next counter, stored in this transaction before the answer (so a counter is never
 * handed out twice), and the action becomes `sent`. One command per action: the same nonce again (a lost answer) gets
 * the same bytes; another nonce is 409 `command_already_issued`, since a second command would let a courier hold one
 * and play the other, running the action twice or after a later action (an unlock after a later lock). `issued`: this
 * request signed it (the action became `sent`), not a repeat.
 */
export async function commandFor(
  tx: Tx,
  ctx: CloudContext,
  bridge: { bridgeId: string; lockHolderId: string },
  actionId: string,
  nonce: Uint8Array,
): Promise<{ actionId: string; lockId: string; command: Uint8Array; issued: boolean }> {
  const action = await servedAction(tx, bridge, actionId);
  const now = ctx.clock.now();
  const status = statusAt(action, now);
  if (!OPEN.has(status)) throw closed(action, status);
  if (nonce.length !== NONCE_BYTES) throw invalid(`body.nonce: must be ${NONCE_BYTES} bytes, got ${nonce.length}`);
  const nonceHex = toHex(nonce);
  if (action.status === "sent") {
    if (action.nonce === nonceHex && action.command !== null) {
      return { actionId, lockId: action.lockId, command: fromHex(action.command), issued: false };
    }
    throw conflict(
      `action ${action.id} already has its command (one per action, over the lock nonce first given); ` +
        "if the lock refused it, report the failure and ask for a new action",
      "command_already_issued",
    );
  }
  const { next } = await tx.remoteActions.nextCounter(action.lockId, now);
  const authority = await authorityFor(tx, ctx, action.lockHolderId);
  const command = signCommand(ctx, authority, { lock: action.lockId, nonce, counter: next, action: action.action });
  const sent = await tx.remoteActions.markSent(action.id, {
    nonce: nonceHex,
    counter: next,
    command: toHex(command),
    binding: toHex(commandResultBinding(nonce)),
  });
  if (!sent) throw new Error(`action ${action.id} was not pending`);
  return { actionId, lockId: action.lockId, command, issued: true };
}

/**
 * A failure the bridge reports (`POST /bridge/v1/actions/{id}/result`): the lock was unreachable or refused the
 * command. Its word, recorded as such (`reportedBy: "bridge"`). A success is never taken from a bridge (422): only the
 * lock's sealed report proves one (`settleCommandResults`).
 */
export async function reportFailure(
  tx: Tx,
  ctx: CloudContext,
  bridge: { bridgeId: string; lockHolderId: string },
  actionId: string,
  result: { ok: boolean; code?: string | undefined; message?: string | undefined },
): Promise<void> {
  const action = await servedAction(tx, bridge, actionId);
  if (result.ok) {
    throw unprocessable(
      "ok: a bridge cannot report success; the action succeeds when the lock's sealed report of its event, carrying " +
        "the command's binding, reaches POST /bridge/v1/reports",
      "success_from_lock_only",
    );
  }
  const status = statusAt(action, ctx.clock.now());
  if (!OPEN.has(status)) throw closed(action, status);
  if (result.code === undefined) throw invalid("body.code: required when ok is false");
  await tx.remoteActions.close(action.id, "failed", {
    completedAt: ctx.clock.now(),
    errorCode: result.code,
    errorMessage: result.message ?? null,
  });
}

/**
 * The lock's word on its commands (called by the report ingest for each event of an accepted report): an
 * `unlocked`/`locked` event whose `cmd` is sha256 of an action's nonce (compared with protocol resultMatchesCommand)
 * and whose type is that action's makes the action `succeeded`, whatever a bridge said or the clock: the door did it.
 * An event without `cmd`, with another command's binding, or of the other type settles nothing.
 */
export async function settleCommandResults(
  tx: Tx,
  ctx: CloudContext,
  lockId: string,
  events: readonly { id: string; type: string; cmd?: Uint8Array | undefined }[],
): Promise<number> {
  let settled = 0;
  for (const event of events) {
    if (!(event.cmd instanceof Uint8Array) || event.cmd.length !== 32) continue;
    if (event.type !== "unlocked" && event.type !== "locked") continue;
    const action = await tx.remoteActions.findByBinding(lockId, toHex(event.cmd));
    if (!action || action.nonce === null || action.status === "succeeded") continue;
    if (EVENT_OF[action.action] !== event.type || !resultMatchesCommand(event.cmd, fromHex(action.nonce))) continue;
    await tx.remoteActions.close(action.id, "succeeded", { completedAt: ctx.clock.now(), eventId: event.id });
    settled++;
  }
  return settled;
}
