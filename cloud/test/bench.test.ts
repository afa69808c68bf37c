import { join } from "node:path";
import { encodeEvent, fromHex, toBase64Url } from "@latchkey/protocol";
import { send } from "@latchkey/protocol/clients";
import { KEY_EVENT_TYPES } from "@latchkey/protocol/contracts";
import Database from "better-sqlite3";
import { Client } from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { benchCloud } from "../bench/index.js";
import {
  type EventSeedPlan,
  type SeedTarget,
  seedEventsInDatabase,
  seededCti,
  seededEventRow,
  seededKeyId,
  seededUser,
  seededUserId,
} from "../bench/seed-events.js";
import { startBenchSite } from "../bench/site.js";
import { UNSIGNED_INGEST_PATH } from "../bench/unsigned-ingest.js";
import { type EventRecord, keyRecordOf } from "../src/store/records.js";
import { DATABASE_FILE } from "../src/store/sqlite/sqlite-store.js";
import { bridgeWithConnection, closeAll, startTestCloud, tenant } from "./helpers.js";
import { DATABASE_URL } from "./postgres.js";

// A smoke run of the benchmark module at tiny sizes: it runs end to end and reports finite figures. No timing is
// asserted here; the figures themselves come from `npm run bench`.
describe("cloud benchmark (smoke)", () => {
  it(`batch create, ingest and the raw baseline run on SQLite${DATABASE_URL ? " and PostgreSQL" : ""}`, async () => {
    const result = await benchCloud({ keys: 30, events: 40, ...(DATABASE_URL ? { databaseUrl: DATABASE_URL } : {}) });
    expect(result.raw.keys).toBe(30);
    expect(result.batchCreate.map((r) => r.store)).toEqual(DATABASE_URL ? ["sqlite", "postgres"] : ["sqlite"]);
    expect(result.ingest.map((r) => r.store)).toEqual(DATABASE_URL ? ["sqlite", "postgres"] : ["sqlite"]);
    expect(result.unsignedIngest.map((r) => r.store)).toEqual(result.ingest.map((r) => r.store));
    // The baseline's bodies weigh what the reports' do, but for the keys each lock's first report carries (10 locks
    // of 40 events here: ~9 %; 0.2 % at the bench's 20,000).
    for (const [i, r] of result.ingest.entries()) {
      expect(Math.abs(r.bodyBytes - result.unsignedIngest[i]!.bodyBytes) / r.bodyBytes).toBeLessThan(0.15);
    }
    for (const figure of [
      result.raw.keysPerSecond,
      ...result.batchCreate.map((r) => r.keysPerSecond),
      ...result.ingest.map((r) => r.eventsPerSecond),
      ...result.unsignedIngest.map((r) => r.eventsPerSecond),
      result.batchCreateRatio,
      result.reportIngestRatio,
    ]) {
      expect(Number.isFinite(figure) && figure > 0).toBe(true);
    }
  }, 120_000); // several clouds on both stores, one after another: minutes on a loaded 2-core machine
});

describe("the report-ingest baseline (bench/unsigned-ingest.ts)", () => {
  afterEach(closeAll);

  it("is a route of the bench site only: a cloud as the product starts it has none", async () => {
    const t = await startTestCloud();
    const tn = await tenant(t);
    const br = await bridgeWithConnection(t, tn);
    const res = await t.call("POST", UNSIGNED_INGEST_PATH, { token: br.token, body: { items: [] } });
    expect(res.status).toBe(404);
    const docs = await t.call("GET", "/docs/json");
    expect(JSON.stringify(docs.body)).not.toContain("unsigned");
  });

  it("on the bench site: the bridge's auth, and only for a lock the bridge serves", async () => {
    const site = await startBenchSite({ locks: 1 });
    try {
      const lockId = site.lockIds[0]!;
      const event = (lock: string) =>
        toBase64Url(encodeEvent({ id: new Uint8Array(16).fill(1), lock, seq: 1, ts: 1_800_000_000, type: "unlocked" }));
      const body = (lock: string) => ({ items: [{ lockId: lock, event: event(lock), pad: "" }] });
      const post = (token: string, lock: string) =>
        send(fetch, site.url, "POST", UNSIGNED_INGEST_PATH, body(lock), {
          headers: { authorization: `Bearer ${token}` },
        });
      expect((await post("", lockId)).status).toBe(401);
      expect((await post(site.integrator.accessToken, lockId)).status).toBe(403);
      const other = await post(site.bridge.accessToken, "nope-1");
      expect(other).toMatchObject({ status: 400, body: { error: "unknown_lock" } });
      const stored = await post(site.bridge.accessToken, lockId);
      expect(stored).toMatchObject({ status: 200, body: { stored: 1 } });
    } finally {
      await site.close();
    }
  });
});

/** Each secondary index of the events table and its definition, as the database reports it. */
async function eventIndexes(target: SeedTarget): Promise<string[]> {
  if (target.store === "sqlite") {
    const db = new Database(join(target.dataDir, DATABASE_FILE), { readonly: true });
    try {
      return (
        db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").all() as {
          name: string;
          sql: string | null;
        }[]
      ).map((r) => `${r.name}: ${r.sql}`);
    } finally {
      db.close();
    }
  }
  const client = new Client({ connectionString: target.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ indexname: string; indexdef: string }>(
      "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'events'",
    );
    return rows.map((r) => `${r.indexname}: ${r.indexdef}`);
  } finally {
    await client.end();
  }
}

describe("the events curve's seed (bench/seed-events.ts)", () => {
  const stores: [string, string | undefined][] = [
    ["SQLite", undefined],
    ...(DATABASE_URL ? [["PostgreSQL", DATABASE_URL] as [string, string]] : []),
  ];

  it.each(stores)(
    "%s: each row is the formula's, reads back as the domain stores it, the indexes the same",
    async (_name, url) => {
      const site = await startBenchSite({ locks: 10, ...(url ? { databaseUrl: url } : {}) });
      try {
        const before = (await eventIndexes(site.seedTarget)).sort();
        const plan: EventSeedPlan = {
          lockHolderId: site.lockHolderId,
          lockIds: site.lockIds,
          types: KEY_EVENT_TYPES,
          count: 4_000,
          nowS: Math.floor(Date.now() / 1000),
          receivedAt: 1_800_000_000_123,
          // Several transactions, the last one short.
          chunk: 1_500,
        };
        await seedEventsInDatabase(site.seedTarget, plan);
        // Dropped and created again from their own definitions: the same indexes as the migrations made.
        expect((await eventIndexes(site.seedTarget)).sort()).toEqual(before);
        expect(before.length).toBeGreaterThanOrEqual(6);

        const expected = Array.from({ length: plan.count }, (_, i) => seededEventRow(plan, i));
        const { rows, newest } = await site.cloud.store.transaction(async (tx) => {
          const rows: (EventRecord | undefined)[] = [];
          for (const e of expected) rows.push(await tx.events.get(e.id));
          const page = { limit: 30, sinceS: 0, types: KEY_EVENT_TYPES };
          return { rows, newest: await tx.events.listForLockHolder(site.lockHolderId, page) };
        });
        expect(rows).toEqual(expected);
        expect(new Set(expected.map((e) => e.id)).size).toBe(plan.count);
        // Inserted in order (n rises with i, ts_s never falls): newest first is the last rows, last first.
        expect(newest.items.map((e) => e.id)).toEqual(
          expected
            .slice(-30)
            .reverse()
            .map((e) => e.id),
        );

        // The mix of today's random seed: each lock a tenth with seqs 1, 2, 3…; each type a quarter on every lock;
        // every user (1,000) present; lock times within the 29 days before now.
        const count = (key: (e: EventRecord) => string) => {
          const m = new Map<string, number>();
          for (const e of expected) m.set(key(e), (m.get(key(e)) ?? 0) + 1);
          return m;
        };
        expect([...count((e) => e.lockId).values()]).toEqual(Array(10).fill(400));
        for (const lockId of site.lockIds) {
          expect(expected.filter((e) => e.lockId === lockId).map((e) => e.seq)).toEqual(
            Array.from({ length: 400 }, (_, i) => i + 1),
          );
        }
        const lockTypes = count((e) => `${e.lockId} ${e.type}`);
        expect(lockTypes.size).toBe(40);
        for (const n of lockTypes.values()) expect(Math.abs(n - 100)).toBeLessThan(25);
        expect(count((e) => e.userId!).size).toBe(1_000);
        expect(count((e) => `${e.keyId} ${e.cti}`).size).toBe(1_000);
        expect(Math.min(...expected.map((e) => e.tsS))).toBe(plan.nowS - 29 * 86_400);
        expect(Math.max(...expected.map((e) => e.tsS))).toBeLessThan(plan.nowS);

        // The same event as a lock reports it, stored by the domain (storeLockEvents, through the bench site's
        // unauthenticated ingest) with the key the seeded row names: the same row but for its id and receipt time.
        const seeded = expected[1_234]!;
        const u = seededUser(1_234);
        await site.cloud.store.transaction((tx) =>
          tx.keys.insertMany([
            keyRecordOf({
              id: seededKeyId(u),
              lockHolderId: site.lockHolderId,
              lockId: seeded.lockId,
              cti: seededCti(u),
              userId: seededUserId(u),
              startAt: 0,
              endAt: null,
              status: "created",
              createdAt: 0,
            }),
          ]),
        );
        const domainId = "ab".repeat(16);
        const event = encodeEvent({
          id: fromHex(domainId),
          lock: seeded.lockId,
          seq: seeded.seq,
          ts: seeded.tsS,
          type: seeded.type as (typeof KEY_EVENT_TYPES)[number],
          key: fromHex(seeded.cti!),
        });
        const ingest = await site.call("POST", UNSIGNED_INGEST_PATH, site.bridgeToken, {
          items: [{ lockId: seeded.lockId, event: toBase64Url(event), pad: "" }],
        });
        expect(ingest).toMatchObject({ status: 200, body: { stored: 1 } });
        const stored = await site.cloud.store.transaction((tx) => tx.events.get(domainId));
        expect({ ...stored!, id: seeded.id, receivedAt: seeded.receivedAt }).toEqual(seeded);

        // And through the API: a filtered page shows both alike but for the id.
        const page = await site.call<{ events: { id: string }[] }>(
          "GET",
          `/integrators/v1/lock-holders/${site.lockHolderId}/events?limit=100&keyId=${seeded.keyId}&action=${seeded.type}`,
          site.token,
        );
        expect(page.status).toBe(200);
        const views = page.body.events.filter((e) => e.id === domainId || e.id === seeded.id);
        expect(views).toHaveLength(2);
        expect({ ...views[0]!, id: "" }).toEqual({ ...views[1]!, id: "" });
        expect(views[0]).toMatchObject({ keyId: seeded.keyId, userId: seeded.userId, lockId: seeded.lockId });
      } finally {
        await site.close();
      }
    },
  );
});
