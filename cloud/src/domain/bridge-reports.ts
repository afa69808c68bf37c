import type { CloudContext } from "../context.js";
import { FeedWriter } from "../feed/changes.js";
import type { LockRecord, VendorConnectionRecord, VendorConnectionState } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { invalid, notFound } from "./errors.js";
import { bridgeHeard, settlePresence } from "./lock-presence.js";
import { newLockRecord, offboardLock } from "./locks.js";
import { connectionStateEvent, queueWebhookEvent } from "./webhook-events.js";

/**
 * What a bridge tells the cloud on its own word (docs/bridge-api.md): the state of the vendor connections it serves,
 * the locks it found for them, the locks' presence. Each runs inside the caller's transaction. Events and telemetry
 * come only as the lock's sealed reports (domain/reports.ts): the cloud believes only the lock (docs/design.md section 7).
 */

/** A vendor connection the bridge serves; any other, or a deleted one, is a 404. */
async function servedConnection(tx: Tx, bridgeId: string, id: string): Promise<VendorConnectionRecord> {
  const vc = await tx.vendorConnections.get(id);
  if (!vc || vc.bridgeId !== bridgeId || vc.deletedAt !== null) throw notFound("vendor connection");
  return vc;
}

/** The state the bridge found a connection in (the credentials it checked, the vendor it reached). */
export async function reportConnectionState(
  tx: Tx,
  ctx: CloudContext,
  bridgeId: string,
  vendorConnectionId: string,
  state: Extract<VendorConnectionState, "connected" | "error" | "disconnected">,
  reason: string | null,
): Promise<void> {
  const vc = await servedConnection(tx, bridgeId, vendorConnectionId);
  await tx.vendorConnections.update(vc.id, { state, reason }, ctx.clock.now());
  const event = connectionStateEvent(vc, state, reason);
  if (event) await queueWebhookEvent(tx, ctx, event);
}

export type FoundLockStatus = "created" | "existing" | "conflict";

/**
 * The full list of locks the bridge found for a connection. New ids are created under the connection's lock holder
 * (an id removed earlier is taken back); an id another connection owns is a `conflict`. While the connection is
 * `refreshing`, its locks missing from the list are offboarded (keys revoked).
 */
export async function reportFoundLocks(
  tx: Tx,
  ctx: CloudContext,
  bridgeId: string,
  vendorConnectionId: string,
  locks: readonly { id: string; name?: string }[],
): Promise<{ id: string; status: FoundLockStatus }[]> {
  const vc = await servedConnection(tx, bridgeId, vendorConnectionId);
  const feed = new FeedWriter(tx, ctx);
  const now = ctx.clock.now();
  const out: { id: string; status: FoundLockStatus }[] = [];
  const seen = new Set<string>();
  for (const found of locks) {
    if (seen.has(found.id)) continue;
    seen.add(found.id);
    const existing = await tx.locks.get(found.id);
    if (existing && existing.removedAt === null) {
      out.push({ id: found.id, status: existing.vendorConnectionId === vc.id ? "existing" : "conflict" });
      continue;
    }
    const name = found.name ?? found.id;
    if (existing) {
      await tx.locks.reassign(found.id, vc.lockHolderId, vc.id, vc.vendor, name, now);
    } else {
      await tx.locks.insert(newLockRecord(vc, found.id, name, now, false));
    }
    await feed.lock((await tx.locks.get(found.id))!, false);
    out.push({ id: found.id, status: "created" });
  }
  if (vc.state === "refreshing") {
    for (const lock of await tx.locks.listForConnection(vc.id)) {
      if (!seen.has(lock.id)) await offboardLock(tx, ctx, lock, vc);
    }
  }
  return out;
}

async function servedLock(tx: Tx, bridgeId: string, lockId: string): Promise<LockRecord | undefined> {
  const lock = await tx.locks.get(lockId);
  if (!lock || lock.removedAt !== null) return undefined;
  const vc = await tx.vendorConnections.get(lock.vendorConnectionId);
  return vc && vc.bridgeId === bridgeId && vc.deletedAt === null ? lock : undefined;
}

/**
 * Lock presence, the bridge's word (its MQTT status), labelled so. Every item is checked first, so a batch naming a
 * lock this bridge does not serve (400 `unknown_lock`, naming the item) stores nothing. A change of what the cloud
 * shows queues `lock.online` / `lock.offline` (domain/lock-presence.ts, docs/webhooks.md "Presence"): the bridge's
 * word, as the presence itself is; a bridge that lies about it can only make the integrator look, not open anything,
 * and at most once per lock per `lockPresenceMinGapSeconds`. Answers how many were stored.
 */
export async function storePresence(
  tx: Tx,
  ctx: CloudContext,
  bridgeId: string,
  presence: readonly { lockId: string; online: boolean; ts: number }[],
): Promise<number> {
  const served = new Set<string>();
  for (const [i, p] of presence.entries()) {
    if (served.has(p.lockId)) continue;
    if (!(await servedLock(tx, bridgeId, p.lockId))) {
      throw invalid(
        `presence.${i}.lockId: lock ${JSON.stringify(p.lockId)} is not served by this bridge`,
        "unknown_lock",
      );
    }
    served.add(p.lockId);
  }
  // A report is the bridge heard, as a heartbeat is: locks its silence took offline show their presence again.
  await tx.bridges.seen(bridgeId, ctx.clock.now());
  await bridgeHeard(tx, ctx, bridgeId);
  // setPresence keeps the newest report; settlePresence announces only a change of what is shown, within the flap limit.
  for (const p of presence) await tx.locks.setPresence(p.lockId, p.online, p.ts);
  for (const lockId of served) await settlePresence(tx, ctx, lockId);
  return presence.length;
}
