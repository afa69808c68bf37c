import type { CloudContext } from "../context.js";
import type { Tx } from "../store/store.js";

/**
 * Runs a write transaction, then wakes whoever may have work from it: long-polling bridges (feed changes), the
 * webhook worker (queued deliveries). Waking after commit means a woken reader always sees the write.
 */
export async function commit<T>(ctx: CloudContext, work: (tx: Tx) => Promise<T>): Promise<T> {
  const result = await ctx.store.transaction(work);
  ctx.notifier.notify();
  ctx.wake.webhooks();
  return result;
}

export function read<T>(ctx: CloudContext, work: (tx: Tx) => Promise<T>): Promise<T> {
  return ctx.store.transaction(work);
}
