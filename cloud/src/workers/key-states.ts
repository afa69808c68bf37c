import type { CloudContext } from "../context.js";
import { stateChangedEvent } from "../domain/keys.js";
import { queueWebhookEvents, type WebhookEvent } from "../domain/webhook-events.js";
import { keyStateTracking } from "../store/records.js";

const BATCH = 500;

/**
 * Announces keys crossing a boundary of their window (scheduled → active → expired, docs/webhooks.md
 * `key.state_changed`) by the injected clock: each key stores the state last announced and when it next changes, so a
 * pass reads only the keys due, by index. The announcement and the new tracking commit together, and the tracking is
 * written only if no other worker moved it first: once per transition, even with several cloud processes. A key whose
 * worker was down across both boundaries announces one change, scheduled → expired. Answers ms until the next is due.
 */
export async function announceKeyStates(ctx: CloudContext): Promise<number | undefined> {
  for (;;) {
    const now = ctx.clock.now();
    const handled = await ctx.store.transaction(async (tx) => {
      const due = await tx.keys.dueStateChanges(now, BATCH);
      const events: WebhookEvent[] = [];
      for (const { key, notified } of due) {
        const tracking = keyStateTracking(key, now);
        if (!(await tx.keys.setStateTracking(key.id, tracking, notified))) continue;
        if (tracking.notified !== notified) events.push(stateChangedEvent(ctx, key, notified));
      }
      await queueWebhookEvents(tx, ctx, events);
      return due.length;
    });
    if (handled < BATCH) return undefined;
  }
}
