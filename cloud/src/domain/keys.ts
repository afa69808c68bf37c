import { toHex, useKeyUrl } from "@latchkey/protocol";
import {
  ceilToSecondMs,
  floorToSecondMs,
  parseRfc3339,
  type Recurrence,
  type Rfc3339Time,
} from "@latchkey/protocol/contracts";
import type { CloudContext } from "../context.js";
import { FeedWriter } from "../feed/changes.js";
import {
  type JobRecord,
  type KeyRecord,
  keyRecordOf,
  keyStateTracking,
  type LockHolderRecord,
  type LockRecord,
  type VendorConnectionRecord,
} from "../store/records.js";
import type { Tx } from "../store/store.js";
import { lockInBody } from "./access.js";
import { assertClaimed } from "./claims.js";
import { conflict, DomainError, forbidden, invalid, notFound, unprocessable } from "./errors.js";
import { RETIRE_LEEWAY_S } from "./issuers.js";
import { keyHolderMobile } from "./phone.js";
import { assertRecurrenceFits } from "./recurrence.js";
import { keyView } from "./views.js";
import { queueWebhookEvent, queueWebhookEvents, type WebhookEvent } from "./webhook-events.js";

/** The body of a key creation, the same for all three create routes. */
export interface KeyInput {
  userId: string;
  userName?: string;
  start?: string | null;
  end?: string | null;
  durationMinutes?: number;
  metadata?: Record<string, unknown>;
  skipInviteNotification?: boolean;
  recurrence?: Recurrence | null;
}

export type KeyState = "creating" | "scheduled" | "active" | "expired" | "error" | "revoked";

export function keyState(key: KeyRecord, now: number): KeyState {
  if (key.status === "revoked") return "revoked";
  if (key.status === "creating") return "creating";
  if (key.status === "error") return "error";
  if (key.endAt !== null && now >= key.endAt) return "expired";
  if (now < key.startAt) return "scheduled";
  return "active";
}

type KeyWindow = { startAt: number; endAt: number | null };

/**
 * A key's validity window: `start` defaults to now; `end` or `durationMinutes`, never both. For an edit, `current` is
 * the key's window: a field left out keeps its value (`durationMinutes` counts from the new or kept start).
 */
export function keyWindow(
  input: Pick<KeyInput, "start" | "end" | "durationMinutes">,
  now: number,
  field = "body",
  current?: KeyWindow,
): KeyWindow {
  if (input.end != null && input.durationMinutes !== undefined) {
    throw invalid(`${field}: give end or durationMinutes, not both`);
  }
  // Whole seconds: tokens carry unix seconds, and the API must say exactly what the token says. A time with a fraction
  // (what `new Date().toISOString()` sends) is rounded outwards, so the key covers at least the asked-for window:
  // start down, end up (docs/design.md section 4).
  const startAt =
    current && input.start === undefined
      ? current.startAt
      : input.start == null
        ? Math.floor(now / 1000) * 1000
        : floorToSecondMs(rfc3339(input.start, `${field}.start`));
  let endAt: number | null = null;
  if (input.end != null) endAt = ceilToSecondMs(rfc3339(input.end, `${field}.end`));
  else if (input.durationMinutes !== undefined) endAt = startAt + input.durationMinutes * 60_000;
  else if (current && input.end === undefined) endAt = current.endAt;
  if (endAt !== null && endAt <= startAt) throw invalid(`${field}: end must be after start`);
  if (endAt !== null && endAt <= now) throw invalid(`${field}: end is in the past`);
  return { startAt, endAt };
}

/** The schema has checked the format already; this names the field should anything else reach here. */
function rfc3339(text: string, field: string): Rfc3339Time {
  const time = parseRfc3339(text);
  if (!time) throw invalid(`${field}: ${JSON.stringify(text)} is not an RFC 3339 date-time with offset`);
  return time;
}

export function checkMetadata(metadata: Record<string, unknown> | undefined, maxBytes: number, field = "body"): void {
  if (metadata === undefined) return;
  const size = Buffer.byteLength(JSON.stringify(metadata), "utf8");
  if (size > maxBytes) throw invalid(`${field}.metadata: ${size} bytes of JSON, over the ${maxBytes}-byte limit`);
}

/** The key holder's mobile number in E.164; 422 naming why when it is not one (a landline, say). */
export function keyHolderNumber(userId: string, lh: LockHolderRecord, field = "body"): string {
  const check = keyHolderMobile(userId, lh.countryIso);
  if ("problem" in check) {
    throw unprocessable(`${field}.userId: ${JSON.stringify(userId)} ${check.problem}`, "invalid_phone_number");
  }
  return check.e164;
}

export function connectionErrorDescription(vc: VendorConnectionRecord): string {
  return (
    `the lock's vendor connection ${vc.id} is in error${vc.reason ? ` (${vc.reason})` : ""}: ` +
    "no keys can be created nor actions run for its locks until its credentials are fixed (update-password) and it " +
    "is refreshed"
  );
}

/** A key for a lock whose connection is in `error` would never reach the lock: 403 (changelog item 15). */
export async function assertConnectionUsable(tx: Tx, lock: LockRecord): Promise<VendorConnectionRecord> {
  const vc = await tx.vendorConnections.get(lock.vendorConnectionId);
  if (!vc || vc.deletedAt !== null)
    throw new DomainError("not_found", "not_found", `lock ${lock.id} has no vendor connection`);
  if (vc.state === "error") throw forbidden(connectionErrorDescription(vc), "vendor_connection_error");
  return vc;
}

export function newKeyRecord(
  ctx: CloudContext,
  lh: LockHolderRecord,
  lock: LockRecord,
  input: KeyInput,
  window: { startAt: number; endAt: number | null },
  userId: string,
  extra: { status: KeyRecord["status"]; jobId: string | null },
): KeyRecord {
  return keyRecordOf({
    id: ctx.ids.next("key"),
    lockHolderId: lh.id,
    lockId: lock.id,
    cti: toHex(ctx.random(16)),
    userId,
    userName: input.userName,
    startAt: window.startAt,
    endAt: window.endAt,
    status: extra.status,
    metadata: input.metadata,
    recurrence: input.recurrence,
    jobId: extra.jobId,
    createdAt: ctx.clock.now(),
  });
}

/**
 * Creates one key now (the single-key routes): validated, stored and put on the bridge's feed in one transaction. Only
 * for a lock its holder has claimed (409 `lock_not_claimed`), and not while its connection is in error (403).
 */
export async function createKey(
  tx: Tx,
  ctx: CloudContext,
  lh: LockHolderRecord,
  lock: LockRecord,
  input: KeyInput,
): Promise<KeyRecord> {
  const now = ctx.clock.now();
  const window = keyWindow(input, now);
  checkMetadata(input.metadata, ctx.settings.metadataMaxBytes);
  const userId = keyHolderNumber(input.userId, lh);
  await assertClaimed(tx, lock);
  assertRecurrenceFits(lock, input.recurrence, "body");
  const vc = await assertConnectionUsable(tx, lock);
  const key = newKeyRecord(ctx, lh, lock, input, window, userId, { status: "created", jobId: null });
  await tx.keys.insert(key);
  if (vc.bridgeId !== null) await new FeedWriter(tx, ctx).key(key, vc.id);
  await queueWebhookEvent(tx, ctx, { lockHolderId: key.lockHolderId, type: "key.created", data: keyView(ctx, key) });
  return key;
}

/**
 * Validates a batch of keys and stores them `creating` under one job, for the job worker (workers/batch-jobs.ts) to
 * create. Every item is checked first, its fields named (`body.keys.<i>…`): one invalid item (400, a landline too),
 * or a lock not claimed (409), refuses the batch and nothing is stored.
 */
export async function startKeyBatch(
  tx: Tx,
  ctx: CloudContext,
  integratorId: string,
  lh: LockHolderRecord,
  items: readonly (KeyInput & { lockId: string })[],
): Promise<JobRecord> {
  const now = ctx.clock.now();
  const jobId = ctx.ids.next("job");
  const records: KeyRecord[] = [];
  // Batches name the same few locks over and over: read each once.
  const locks = new Map<string, LockRecord>();
  for (const [index, item] of items.entries()) {
    const field = `body.keys.${index}`;
    const window = keyWindow(item, now, field);
    checkMetadata(item.metadata, ctx.settings.metadataMaxBytes, field);
    let userId: string;
    try {
      userId = keyHolderNumber(item.userId, lh, field);
    } catch (e) {
      throw e instanceof DomainError ? invalid(e.message, "invalid_phone_number") : e;
    }
    let lock = locks.get(item.lockId);
    if (!lock) {
      lock = await lockInBody(tx, lh, item.lockId, `${field}.lockId`);
      await assertClaimed(tx, lock, `${field}.lockId`);
      locks.set(lock.id, lock);
    }
    assertRecurrenceFits(lock, item.recurrence, field);
    records.push(newKeyRecord(ctx, lh, lock, item, window, userId, { status: "creating", jobId }));
  }
  await tx.keys.insertMany(records);
  const record: JobRecord = {
    id: jobId,
    integratorId,
    lockHolderId: lh.id,
    kind: "keys.batch",
    status: "pending",
    total: records.length,
    done: 0,
    keyIds: records.map((r) => r.id),
    results: [],
    createdAt: now,
    updatedAt: now,
  };
  await tx.jobs.insert(record);
  return record;
}

/** Revokes a key: its cti goes on the lock's revocation list through the bridge; tokens already out stop working. */
export async function revokeKey(tx: Tx, ctx: CloudContext, key: KeyRecord): Promise<KeyRecord> {
  if (key.status === "revoked") return key;
  const revoked: KeyRecord = { ...key, status: "revoked", revokedAt: ctx.clock.now() };
  await tx.keys.setStatus(key.id, "revoked", { revokedAt: revoked.revokedAt });
  const lock = await tx.locks.get(key.lockId);
  if (lock && key.status === "created") {
    const vc = await tx.vendorConnections.get(lock.vendorConnectionId);
    if (vc?.bridgeId) await new FeedWriter(tx, ctx).key(revoked, vc.id);
  }
  await queueWebhookEvent(tx, ctx, {
    lockHolderId: key.lockHolderId,
    type: "key.revoked",
    data: keyView(ctx, revoked),
  });
  return revoked;
}

/** The body of a key edit: any of the terms a key was created with, but its holder and lock. */
export type KeyEdit = Pick<KeyInput, "userName" | "start" | "end" | "durationMinutes" | "metadata" | "recurrence">;

/** Only scheduled and active keys can be edited: a revoked or ended key stays as it ended. */
const EDITABLE: readonly KeyState[] = ["scheduled", "active"];

/**
 * Whether going from `before` to `after` may refuse something an old token allows: a later start, an earlier (or new)
 * end, or any new recurrence (a changed week may drop hours; telling which is not worth the risk). Such an edit
 * revokes the key's older tokens at the lock (docs/design.md section 4 "Editing a key").
 */
function narrows(before: KeyRecord, after: KeyRecord): boolean {
  if (after.startAt > before.startAt) return true;
  if (after.endAt !== null && (before.endAt === null || after.endAt < before.endAt)) return true;
  return after.recurrence !== null && JSON.stringify(after.recurrence) !== JSON.stringify(before.recurrence);
}

/**
 * Edits a scheduled or active key in place (issue 14): same id and cti, validated as at creation. An edit that narrows
 * what the lock enforces sets `revokeBefore` past the edit's second, so the lock's state refuses every token minted
 * before it (`{cti, before}`) while the re-minted ones (iat never below it) open; the key goes on the bridge's feed so
 * the bridge fetches that state. Metadata or name alone change no token.
 */
export async function editKey(tx: Tx, ctx: CloudContext, key: KeyRecord, input: KeyEdit): Promise<KeyRecord> {
  const now = ctx.clock.now();
  const state = keyState(key, now);
  if (!EDITABLE.includes(state)) {
    throw conflict(`key ${key.id} is ${state}: only a scheduled or active key can be edited`, "key_not_editable");
  }
  const window = keyWindow(input, now, "body", key);
  checkMetadata(input.metadata, ctx.settings.metadataMaxBytes);
  const lock = await tx.locks.get(key.lockId);
  if (!lock) throw notFound(`key ${key.id}'s lock`);
  if (input.recurrence !== undefined) assertRecurrenceFits(lock, input.recurrence, "body");
  const editedAt = Math.floor(now / 1000);
  const edited: KeyRecord = {
    ...key,
    ...window,
    recurrence: input.recurrence === undefined ? key.recurrence : input.recurrence,
    metadata: input.metadata === undefined ? key.metadata : input.metadata,
    userName: input.userName === undefined ? key.userName : input.userName,
    editedAt,
  };
  // Only while a token minted before the edit may still open: its latest exp, or, when none is recorded, the longest
  // a token minted before now can live. The entry is needed until then (lock-state.ts drops it after).
  const olderUntilS = key.maxTokenExpS ?? editedAt + ctx.settings.maxTokenLifetimeSeconds;
  if (narrows(key, edited) && olderUntilS + RETIRE_LEEWAY_S > editedAt) {
    // The second after the edit's: a token minted earlier in the edit's own second has iat = editedAt and must be
    // refused too; tokens minted from now on carry iat ≥ revokeBefore (issuers.ts mintKeyToken), so they open.
    edited.revokeBefore = Math.max(key.revokeBefore ?? 0, editedAt + 1);
    edited.revokeUntilS = Math.max(key.revokeUntilS ?? 0, olderUntilS);
  }
  await tx.keys.edit(key.id, edited);
  const termsChanged =
    edited.startAt !== key.startAt ||
    edited.endAt !== key.endAt ||
    JSON.stringify(edited.recurrence) !== JSON.stringify(key.recurrence);
  if (termsChanged && key.status === "created") {
    const vc = await tx.vendorConnections.get(lock.vendorConnectionId);
    if (vc?.bridgeId) await new FeedWriter(tx, ctx).key(edited, vc.id);
  }
  const events: WebhookEvent[] = [{ lockHolderId: key.lockHolderId, type: "key.updated", data: keyView(ctx, edited) }];
  // An edit may move the key across a boundary itself (a later start makes an active key scheduled again): announced
  // here, and the state worker (workers/key-states.ts) follows from the new terms.
  const tracking = keyStateTracking(edited, now);
  if (key.status === "created") {
    if (tracking.notified !== state) events.push(stateChangedEvent(ctx, edited, state));
    await tx.keys.setStateTracking(key.id, tracking);
  }
  await queueWebhookEvents(tx, ctx, events);
  return edited;
}

export function keyUseUrl(ctx: CloudContext, key: KeyRecord): string {
  return useKeyUrl({ keyId: key.id, userId: key.userId }, ctx.settings.linkBase);
}

/** `key.state_changed` (docs/webhooks.md): the key as it is now, and the state it was last announced in. */
export function stateChangedEvent(ctx: CloudContext, key: KeyRecord, previousState: string): WebhookEvent {
  return {
    lockHolderId: key.lockHolderId,
    type: "key.state_changed",
    data: { ...keyView(ctx, key), previousState },
  };
}
