import type { CloudContext } from "../context.js";
import type { LockHolderRecord } from "../store/records.js";
import { commit } from "./commit.js";
import { unprocessable } from "./errors.js";
import { addIssuerKey } from "./issuers.js";
import { isKnownCountry } from "./phone.js";

/** A lock holder's country must be one whose numbers can be read (domain/phone.ts); 422 naming it otherwise. */
export function checkCountry(countryIso: string | undefined): void {
  if (countryIso !== undefined && !isKnownCountry(countryIso)) {
    throw unprocessable(
      `body.countryIso: ${JSON.stringify(countryIso)} is not an ISO 3166-1 alpha-2 country code known to the phone number metadata`,
      "invalid_country",
    );
  }
}

/** A new lock holder of the integrator, with its first issuer key (422 for a country whose numbers cannot be read). */
export async function createLockHolder(
  ctx: CloudContext,
  integratorId: string,
  body: { name: string; countryIso?: string; organizationId?: string; organizationIdSuffix?: string },
): Promise<LockHolderRecord> {
  checkCountry(body.countryIso);
  const lh: LockHolderRecord = {
    id: ctx.ids.next("lh"),
    integratorId,
    name: body.name,
    countryIso: body.countryIso ?? null,
    organizationId: body.organizationId ?? null,
    organizationIdSuffix: body.organizationIdSuffix ?? null,
    createdAt: ctx.clock.now(),
  };
  await commit(ctx, async (tx) => {
    await tx.lockHolders.insert(lh);
    await addIssuerKey(tx, ctx, lh.id);
  });
  return lh;
}
