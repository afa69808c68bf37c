import { encodeEvent, toBase64Url } from "@latchkey/protocol";
import { send } from "@latchkey/protocol/clients";
import { afterEach, describe, expect, it } from "vitest";
import { benchCloud } from "../bench/index.js";
import { startBenchSite } from "../bench/site.js";
import { UNSIGNED_INGEST_PATH } from "../bench/unsigned-ingest.js";
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
  });
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
