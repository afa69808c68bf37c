import type { CloudContext } from "../context.js";
import type { LockRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { presenceEvent, queueWebhookEvent } from "./webhook-events.js";

/**
 * A lock's presence as the cloud shows it (docs/webhooks.md "Presence"): what its bridge last reported, while the
 * bridge is heard. A bridge silent for longer than `bridgeOfflineAfterSeconds` (no heartbeat, no report) takes its
 * locks offline with it: a dead bridge cannot say so. All of it is the bridge's word (docs/design.md section 7): a
 * lying bridge can flap its own locks' presence, which costs webhooks, never opens anything; the flap limit caps that.
 */

export const shownOnline = (lock: Pick<LockRecord, "online" | "bridgeSilentSince">) =>
  lock.online && lock.bridgeSilentSince === null;

/**
 * Announces the lock's shown presence if it is not what was announced last: `lock.online` / `lock.offline`, at most
 * one per `lockPresenceMinGapSeconds` per lock. A change inside the gap is held back (presence_due_at) and the worker
 * announces the state of that moment when the gap is over; a state that flapped back meanwhile announces nothing.
 * The announcement commits only if no other process announced first.
 */
export async function settlePresence(tx: Tx, ctx: CloudContext, lockId: string): Promise<void> {
  const lock = await tx.locks.get(lockId);
  if (!lock) return;
  const online = shownOnline(lock);
  if (lock.removedAt !== null || online === lock.presenceAnnounced) {
    if (lock.presenceDueAt !== null) await tx.locks.setPresenceDue(lock.id, null);
    return;
  }
  const now = ctx.clock.now();
  const gapEnds =
    lock.presenceAnnouncedAt === null ? now : lock.presenceAnnouncedAt + ctx.settings.lockPresenceMinGapSeconds * 1000;
  if (now < gapEnds) {
    if (lock.presenceDueAt !== gapEnds) await tx.locks.setPresenceDue(lock.id, gapEnds);
    return;
  }
  if (!(await tx.locks.setPresenceAnnounced(lock.id, online, now, lock.presenceAnnouncedAt))) return;
  const since =
    !online && lock.bridgeSilentSince !== null ? lock.bridgeSilentSince : (lock.presenceTsS ?? now / 1000) * 1000;
  await queueWebhookEvent(tx, ctx, presenceEvent(lock, online, since));
}

/** The bridge was heard: its locks taken offline by its silence show what it last reported again. */
export async function bridgeHeard(tx: Tx, ctx: CloudContext, bridgeId: string): Promise<void> {
  for (const lock of await tx.locks.silentOfBridge(bridgeId)) {
    await tx.locks.clearBridgeSilent(lock.id);
    await settlePresence(tx, ctx, lock.id);
  }
}
