import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PgStore } from "../src/store/postgres/pg-store.js";
import type { EventRecord, KeyRecord, LockRecord } from "../src/store/records.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import type { Store, Tx } from "../src/store/store.js";
import { createTestSchema, DATABASE_URL } from "./postgres.js";
import { eventRecord, insertLockHolder, keyRecord, NOW } from "./store-fixtures.js";

/**
 * The repositories are written once (store/repositories/) over each driver's SQL: where the drivers do a thing their
 * own way (batch inserts, lists bound as one value), the answers must still be the same.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function sqlite(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-cloud-dialects-"));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteStore(dir);
  cleanups.push(() => store.close());
  return store;
}

async function postgres(): Promise<Store> {
  const schema = await createTestSchema();
  cleanups.push(() => schema.drop());
  const store = await PgStore.open({ url: schema.url, poolMax: 2 });
  cleanups.push(() => store.close());
  return store;
}

async function seed(tx: Tx): Promise<void> {
  await insertLockHolder(tx);
  await tx.vendorConnections.insert({
    id: "vc_a",
    lockHolderId: "lh_a",
    vendor: "sim",
    username: "u",
    credentialSalt: null,
    credentialDigest: null,
    bridgeId: null,
    state: "connecting",
    reason: null,
    createdAt: NOW,
    updatedAt: NOW,
    deletedAt: null,
  });
}

const event = (id: string, seq: number): EventRecord => eventRecord({ id, seq, tsS: 1_800_000_000 + seq });

const key = (n: number, status: KeyRecord["status"]): KeyRecord =>
  keyRecord({
    id: `key_${n}`,
    cti: `cti-${n}`,
    userName: n === 1 ? "Kari" : null,
    status,
    metadata: n === 2 ? { room: "12" } : null,
  });

const lock: LockRecord = {
  id: "lock-1",
  lockHolderId: "lh_a",
  vendorConnectionId: "vc_a",
  vendor: "sim",
  name: "Front door",
  imageUrl: null,
  address: null,
  timezone: null,
  createdAt: NOW,
  removedAt: null,
  battery: null,
  online: false,
  presenceTsS: null,
  eventSeq: 0,
  bridgeSilentSince: null,
  presenceAnnounced: false,
  presenceAnnouncedAt: null,
  presenceDueAt: null,
};

const dialects: [string, () => Promise<Store>, boolean][] = [
  ["SQLite", sqlite, false],
  ["PostgreSQL", postgres, !DATABASE_URL],
];

describe.each(dialects)("the repositories on %s", (_name, open, skip) => {
  it.skipIf(skip)(
    "batch inserts store the first of each id, in the given order, and answer which were new",
    async () => {
      const store = await open();
      const stored = await store.transaction(async (tx) => {
        await seed(tx);
        const first = await tx.events.insertManyIfNew([event("e1", 1), event("e2", 2), event("e1", 9)]);
        const second = await tx.events.insertManyIfNew([event("e1", 3), event("e3", 4)]);
        const none = await tx.events.insertManyIfNew([]);
        const reading = (id: string, level: number) => ({
          id,
          lockId: "lock_1",
          tsS: 1,
          level,
          mv: 3000,
          state: "ok" as const,
          v: null,
          dropped: null,
          receivedAt: NOW,
        });
        const readings = await tx.telemetry.insertManyIfNew([reading("t1", 50), reading("t1", 9), reading("t2", 40)]);
        const readingsAgain = await tx.telemetry.insertManyIfNew([reading("t2", 1), reading("t3", 30)]);
        return { first, second, none, readings, readingsAgain, e1: await tx.events.get("e1") };
      });
      expect([...stored.first].sort()).toEqual(["e1", "e2"]);
      expect([...stored.second]).toEqual(["e3"]);
      expect(stored.none.size).toBe(0);
      expect(stored.e1).toEqual(event("e1", 1));
      expect([...stored.readings].sort()).toEqual(["t1", "t2"]);
      expect([...stored.readingsAgain]).toEqual(["t3"]);
    },
  );

  it.skipIf(skip)(
    "lists bound as one value: none, unknown and repeated ids; markCreated leaves other statuses",
    async () => {
      const store = await open();
      const found = await store.transaction(async (tx) => {
        await seed(tx);
        await tx.keys.insertMany([key(1, "creating"), key(2, "creating"), key(3, "revoked")]);
        await tx.keys.markCreated(["key_1", "key_3", "key_unknown"]);
        await tx.keys.markCreated([]);
        return {
          none: await tx.keys.getMany([]),
          some: await tx.keys.getMany(["key_1", "key_1", "key_unknown", "key_2"]),
          byCti: await tx.keys.getManyByCti(["cti-3", "cti-unknown"]),
          claims: await tx.lockClaims.getMany([]),
        };
      });
      expect(found.none).toEqual([]);
      expect(found.claims).toEqual([]);
      const some = [...found.some].sort((a, b) => (a.id < b.id ? -1 : 1));
      expect(some).toEqual([key(1, "created"), key(2, "creating")]);
      expect(found.byCti).toEqual([key(3, "revoked")]);
    },
  );

  it.skipIf(skip)("update writes the given fields only; nothing given writes nothing", async () => {
    const store = await open();
    const after = await store.transaction(async (tx) => {
      await seed(tx);
      await tx.locks.insert(lock);
      await tx.locks.update("lock-1", {});
      const unchanged = await tx.locks.get("lock-1");
      await tx.locks.update("lock-1", { name: "Back door", address: { city: "Oslo" }, timezone: null });
      await tx.vendorConnections.update("vc_a", { state: "connected" }, NOW + 5);
      return { unchanged, lock: await tx.locks.get("lock-1"), vc: await tx.vendorConnections.get("vc_a") };
    });
    expect(after.unchanged).toEqual(lock);
    expect(after.lock).toEqual({ ...lock, name: "Back door", address: { city: "Oslo" } });
    expect(after.vc).toMatchObject({ state: "connected", reason: null, username: "u", updatedAt: NOW + 5 });
  });
});
