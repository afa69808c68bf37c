import type { CloudContext } from "../context.js";
import { settlePresence } from "../domain/lock-presence.js";

const BATCH = 500;

/**
 * On the injected clock (docs/webhooks.md "Presence"): takes offline the locks shown online whose bridge has been
 * silent longer than `bridgeOfflineAfterSeconds`, and announces the presence changes the flap limit held back once
 * they are due. A silent lock's `since` is when its bridge was last heard.
 */
export async function watchLockPresence(ctx: CloudContext): Promise<number | undefined> {
  for (;;) {
    const now = ctx.clock.now();
    const handled = await ctx.store.transaction(async (tx) => {
      const cutoff = now - ctx.settings.bridgeOfflineAfterSeconds * 1000;
      const silent = await tx.locks.reportedOnlineOfSilentBridges(cutoff, BATCH);
      for (const { lock, lastSeenAt } of silent) {
        if (await tx.locks.markBridgeSilent(lock.id, lastSeenAt ?? now, cutoff)) await settlePresence(tx, ctx, lock.id);
      }
      const due = await tx.locks.presenceDue(now, BATCH);
      for (const lock of due) await settlePresence(tx, ctx, lock.id);
      return Math.max(silent.length, due.length);
    });
    if (handled < BATCH) return undefined;
  }
}
