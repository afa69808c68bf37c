import { describe, expect, it } from "vitest";
import { benchCloud } from "../src/bench/index.js";
import { DATABASE_URL } from "./postgres.js";

// A smoke run of the benchmark module at tiny sizes: it runs end to end and reports finite figures. No timing is
// asserted here; the figures themselves come from `npm run bench`.
describe("cloud benchmark (smoke)", () => {
  it(`batch create, ingest and the raw baseline run on SQLite${DATABASE_URL ? " and PostgreSQL" : ""}`, async () => {
    const result = await benchCloud({ keys: 30, events: 40, ...(DATABASE_URL ? { databaseUrl: DATABASE_URL } : {}) });
    expect(result.raw.keys).toBe(30);
    expect(result.batchCreate.map((r) => r.store)).toEqual(DATABASE_URL ? ["sqlite", "postgres"] : ["sqlite"]);
    expect(result.ingest.map((r) => r.store)).toEqual(DATABASE_URL ? ["sqlite", "postgres"] : ["sqlite"]);
    for (const figure of [
      result.raw.keysPerSecond,
      ...result.batchCreate.map((r) => r.keysPerSecond),
      ...result.ingest.map((r) => r.eventsPerSecond),
      result.batchCreateRatio,
    ]) {
      expect(Number.isFinite(figure) && figure > 0).toBe(true);
    }
  });
});
