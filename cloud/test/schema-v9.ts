import { expect } from "vitest";
import type { Store } from "../src/store/store.js";

/** Two lock holders and two claims of lock holder A as schema version 9 held them for the migration 10 tests of both dialects. */
export const CLAIMS_AT_VERSION_9 = `
  INSERT INTO integrators (id, name, created_at) VALUES ('int_a', 'A', 1);
  INSERT INTO lock_holders (id, integrator_id, name, created_at) VALUES ('lh_a', 'int_a', 'A', 1), ('lh_b', 'int_a', 'B', 1);
  INSERT INTO lock_claims (lock_id, lock_holder_id, claim_secret_sealed, fingerprint, claimed_at, reported_authority,
    last_v, state_doc, state_v, state_iat, state_digest, state_authority, authority_from_v)
    VALUES ('lk-proved', 'lh_a', 'sealed', 'ff', 5, 'aa', 70, 'd0c', 70, 1, 'dg', 'aa', 60),
           ('lk-unproved', 'lh_a', 'sealed', 'ff', 6, NULL, 90, 'd0c', 90, 1, 'dg', 'aa', 90);
`;

/**
 * What migration 10 makes of CLAIMS_AT_VERSION_9, on either dialect: the claim whose lock reported its authority is
 * confirmed, the other stays pending, and another holder may now hold a pending claim of the same id.
 */
export async function expectClaimsMigratedFromVersion9(store: Store): Promise<void> {
  const [proved, unproved] = await store.transaction(async (tx) => [
    await tx.lockClaims.get("lk-proved", "lh_a"),
    await tx.lockClaims.get("lk-unproved", "lh_a"),
  ]);
  expect(proved).toMatchObject({ confirmedAt: 5, signedVs: [], reportedAuthority: "aa", stateV: 70 });
  expect(unproved).toMatchObject({ confirmedAt: null, signedVs: [90], reportedAuthority: null, lastV: 90 });
  await store.transaction((tx) => tx.lockClaims.insert({ ...unproved!, lockHolderId: "lh_b", signedVs: [] }));
  const both = await store.transaction((tx) => tx.lockClaims.listForLock("lk-unproved"));
  expect(both.map((c) => c.lockHolderId)).toEqual(["lh_a", "lh_b"]);
  expect(await store.transaction((tx) => tx.lockClaims.lastV("lk-unproved"))).toBe(90);
}
