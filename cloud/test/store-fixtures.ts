import { type EventRecord, type KeyRecord, keyRecordOf } from "../src/store/records.js";
import type { Tx } from "../src/store/store.js";

/** Rows the store tests start from, written straight through the repositories. */

export const NOW = 1_800_000_000_000;

/** Integrator `int_<suffix>` (client `cl_<suffix>`) and its lock holder `lh_<suffix>`; answers the lock holder's id. */
export async function insertLockHolder(tx: Tx, suffix = "a", now = NOW): Promise<string> {
  await tx.integrators.insert(
    { id: `int_${suffix}`, name: suffix.toUpperCase(), createdAt: now },
    {
      clientId: `cl_${suffix}`,
      integratorId: `int_${suffix}`,
      secretHash: "h",
      previousSecretHash: null,
      previousSecretExpiresAt: null,
      createdAt: now,
    },
  );
  await tx.lockHolders.insert({
    id: `lh_${suffix}`,
    integratorId: `int_${suffix}`,
    name: suffix.toUpperCase(),
    countryIso: null,
    organizationId: null,
    organizationIdSuffix: null,
    createdAt: now,
  });
  return `lh_${suffix}`;
}

/** An `unlocked` event of lock-1 with nothing optional, but for the fields given. */
export const eventRecord = (fields: Partial<EventRecord> & Pick<EventRecord, "id">): EventRecord => ({
  lockHolderId: "lh_a",
  lockId: "lock-1",
  seq: 1,
  tsS: 1_800_000_000,
  type: "unlocked",
  cti: null,
  keyId: null,
  userId: null,
  code: null,
  dropped: null,
  v: null,
  receivedAt: NOW,
  ...fields,
});

/** A `created` key of lock-1 for +4791234567 from NOW, open-ended, with nothing optional, but for the fields given. */
export const keyRecord = (fields: Partial<KeyRecord> & Pick<KeyRecord, "id" | "cti">): KeyRecord =>
  keyRecordOf({
    lockHolderId: "lh_a",
    lockId: "lock-1",
    userId: "+4791234567",
    startAt: NOW,
    endAt: null,
    status: "created",
    createdAt: NOW,
    ...fields,
  });
