import type { CloudContext } from "../context.js";
import { retireExpiredIssuerKeys } from "../domain/issuers.js";

/** Periodic housekeeping: retire issuer keys whose tokens have all expired, drop expired access tokens. */
export async function maintain(ctx: CloudContext): Promise<number | undefined> {
  const retired = await ctx.store.transaction(async (tx) => {
    await tx.tokens.deleteExpired(ctx.clock.now());
    return retireExpiredIssuerKeys(tx, ctx);
  });
  if (retired > 0) ctx.notifier.notify();
  return undefined;
}
