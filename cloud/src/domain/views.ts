import {
  iso,
  isoOrNull,
  type JobItemErrorCode,
  type JobState,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
} from "@latchkey/protocol/contracts";
import type { CloudContext } from "../context.js";
import type {
  BridgeRecord,
  DeliveryRecord,
  EventRecord,
  IntegratorRecord,
  IssuerKeyRecord,
  JobRecord,
  KeyRecord,
  LockClaimRecord,
  LockHolderRecord,
  LockRecord,
  VendorConnectionRecord,
  WebhookRecord,
} from "../store/records.js";
import { claimStatus } from "./claims.js";
import { keyState, keyUseUrl } from "./keys.js";
import { shownOnline } from "./lock-presence.js";

/** Records as the API shows them. Secrets and internal columns never leave through here. */

export const integratorView = (i: IntegratorRecord) => ({ id: i.id, name: i.name, created: iso(i.createdAt) });

export const lockHolderView = (l: LockHolderRecord) => ({
  id: l.id,
  name: l.name,
  countryIso: l.countryIso,
  organizationId: l.organizationId,
  organizationIdSuffix: l.organizationIdSuffix,
  created: iso(l.createdAt),
});

export const vendorConnectionView = (v: VendorConnectionRecord) => ({
  id: v.id,
  vendor: v.vendor,
  state: v.state,
  reason: v.reason,
  username: v.username,
  bridgeId: v.bridgeId,
  created: iso(v.createdAt),
  updated: iso(v.updatedAt),
});

/** A lock as the Integrator API shows it; `claim` is the lock holder's own claim of it (domain/claims.ts). */
export const lockView = (l: LockRecord, claim?: LockClaimRecord) => ({
  id: l.id,
  name: l.name,
  vendor: l.vendor,
  vendorConnectionId: l.vendorConnectionId,
  imageUrl: l.imageUrl,
  address: l.address,
  timezone: l.timezone,
  created: iso(l.createdAt),
  battery: l.battery && { level: l.battery.level, state: l.battery.state, updatedAt: iso(l.battery.updatedAt) },
  online: shownOnline(l),
  claimed: l.vendor === "virtual" || claim !== undefined,
  claim: claimStatus(l, claim),
  stateV: claim?.stateV ?? null,
  maxStale: claim?.maxStaleS ?? null,
});

export function keyView(ctx: CloudContext, k: KeyRecord) {
  return {
    id: k.id,
    lockId: k.lockId,
    toUser: k.userName === null ? { id: k.userId } : { id: k.userId, name: k.userName },
    userId: k.userId,
    userName: k.userName,
    start: iso(k.startAt),
    end: isoOrNull(k.endAt),
    created: iso(k.createdAt),
    // The store keeps it in seconds (migration 12), like the token times the edit is compared with.
    edited: k.editedAt === null ? null : iso(k.editedAt * 1000),
    state: keyState(k, ctx.clock.now()),
    ...(k.error ? { error: k.error } : {}),
    metadata: k.metadata,
    recurrence: k.recurrence,
    useKeyUrl: keyUseUrl(ctx, k),
  };
}

export function bridgeView(ctx: CloudContext, b: BridgeRecord) {
  const silentFor = b.lastSeenAt === null ? Number.POSITIVE_INFINITY : ctx.clock.now() - b.lastSeenAt;
  return {
    id: b.id,
    name: b.name,
    online: silentFor <= ctx.settings.bridgeOfflineAfterSeconds * 1000,
    lastSeen: isoOrNull(b.lastSeenAt),
    version: b.version,
    locksOnline: b.locksOnline,
    created: iso(b.createdAt),
  };
}

export const issuerKeyView = (k: IssuerKeyRecord) => ({
  kid: k.kid,
  x: k.publicKey,
  active: k.rotatedAt === null,
  created: iso(k.createdAt),
  rotated: isoOrNull(k.rotatedAt),
  retired: isoOrNull(k.retiredAt),
});

/**
 * Unloc's key-event shape; also the `data` of the `key_event.created` webhook. `userName` is the name given to the
 * event's key at creation (null for an event of no key of the lock holder's, or a key given no name).
 */
export function keyEventView(e: EventRecord, lockName: string, userName: string | null) {
  return {
    id: e.id,
    action: e.type,
    created: iso(e.tsS * 1000),
    keyId: e.keyId,
    lockId: e.lockId,
    lockName,
    userId: e.userId,
    userName,
    ...(e.code ? { code: e.code } : {}),
  };
}

export const webhookView = (w: WebhookRecord) => ({
  id: w.id,
  url: w.url,
  created: iso(w.createdAt),
  eventTypes: (w.eventTypes ?? [...WEBHOOK_EVENT_TYPES]) as WebhookEventType[],
  paused: w.pausedAt !== null,
});

/** A delivery to a webhook, with its attempts and last error (for debugging a receiver). */
export const deliveryView = (d: DeliveryRecord) => ({
  id: d.id,
  type: d.eventType,
  status: d.status,
  attempts: d.attempts,
  nextAttempt: d.status === "pending" ? iso(d.nextAttemptAt) : null,
  lastError: d.lastError,
  created: iso(d.createdAt),
  delivered: isoOrNull(d.deliveredAt),
});

/** The code of an item error stored before codes were (its words are the batch worker's, unchanged since). */
function legacyItemCode(error: string): JobItemErrorCode {
  if (error === "the key no longer exists") return "key_gone";
  if (error.includes("revoked before it was created")) return "key_revoked";
  if (error === "the lock was removed") return "lock_removed";
  if (error.endsWith("is not claimed")) return "lock_not_claimed";
  if (error.includes("vendor connection was deleted")) return "vendor_connection_deleted";
  if (error.includes(" is in error")) return "vendor_connection_error";
  return "key_not_creating";
}

/** A job's outcome in Unloc's words (contracts JOB_STATES). */
export function jobState(j: JobRecord): JobState {
  if (j.status === "pending" || j.status === "running") return "inProgress";
  const failed = j.results.filter((r) => r.error !== undefined).length;
  if (j.status === "failed" && failed < j.total) return "failedJob";
  if (failed === 0) return "completed";
  return failed === j.total ? "failedValidation" : "partiallyFailed";
}

export const jobView = (j: JobRecord) => ({
  id: j.id,
  status: j.status,
  state: jobState(j),
  total: j.total,
  done: j.done,
  results: j.results.map(({ code: _code, ...r }) => r),
  errors: j.results.flatMap((r) =>
    r.error === undefined
      ? []
      : [
          {
            index: r.index,
            ...(r.keyId === undefined ? {} : { keyId: r.keyId }),
            code: (r.code ?? legacyItemCode(r.error)) as JobItemErrorCode,
            message: r.error,
          },
        ],
  ),
  created: iso(j.createdAt),
  updated: iso(j.updatedAt),
});
