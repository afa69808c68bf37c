import { NONCE_TTL_MS } from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import { retireExpiredIssuerKeys } from "../domain/issuers.js";
import { DAY_MS } from "../domain/otp-limits.js";

/**
 * Periodic housekeeping: retire issuer keys whose tokens have all expired, drop expired access tokens, virtual-lock
 * challenges and one-time-code limit counts no limit looks at any more, and mark remote actions past their time
 * expired.
 */
export async function maintain(ctx: CloudContext): Promise<number | undefined> {
  let expired = 0;
  const retired = await ctx.store.transaction(async (tx) => {
    await tx.tokens.deleteExpired(ctx.clock.now());
    // Kept a while past expiry, so an unlock that comes late hears "the challenge expired", not "unknown".
    await tx.nonces.deleteIssuedBefore(ctx.clock.now() - 10 * NONCE_TTL_MS);
    // Client-address counts look back an hour (domain/otp-limits.ts); a day is kept, for looking into an attack.
    await tx.otpThrottle.deleteEventsBefore(ctx.clock.now() - DAY_MS);
    // Reads already show an open action past its time as expired (domain/actions.ts); this writes it so.
    expired = await tx.remoteActions.expireDue(ctx.clock.now());
    return retireExpiredIssuerKeys(tx, ctx);
  });
  // Counted once committed: a retried transaction sets `expired` again rather than adding to it.
  ctx.metrics.countActions("expired", expired);
  if (retired > 0) ctx.notifier.notify();
  return undefined;
}
