import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreConflictError } from "../src/store/errors.js";
import type { Tx } from "../src/store/store.js";
import { closeAll, lh, startTestCloud, type Tenant, type TestCloud, tenant, until, virtualLocks } from "./helpers.js";

let t: TestCloud;
let tn: Tenant;

beforeEach(async () => {
  t = await startTestCloud({ settings: { batchChunkKeys: 2 } });
  tn = await tenant(t);
});

afterEach(closeAll);

/**
 * Makes the `nth` chunk transaction (counted by its progress write) end as PostgreSQL's transaction does when
 * concurrent ones conflicted past its retries: thrown after the chunk's writes, so the whole chunk rolls back.
 */
function conflictOnProgress(nth: number): void {
  const store = t.cloud.store;
  const transaction = store.transaction.bind(store);
  let progressed = 0;
  store.transaction = <T>(work: (tx: Tx) => Promise<T>) =>
    transaction((tx) => {
      const progress = tx.jobs.progress.bind(tx.jobs);
      tx.jobs.progress = async (...args) => {
        if (++progressed === nth) throw new StoreConflictError(10, new Error("could not serialize access"));
        return progress(...args);
      };
      return work(tx);
    });
}

describe("batch jobs", () => {
  it("a chunk that conflicted past the store's retries is tried again, not failed, and no item is done twice", async () => {
    const { lockIds } = await virtualLocks(t, tn, 1);
    conflictOnProgress(2);
    const size = 5;
    const batch = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: Array.from({ length: size }, (_, i) => ({ lockId: lockIds[0]!, userId: `+47912345${60 + i}` })) },
    });
    expect(batch.status).toBe(202);
    const job = await until("the job to end", async () => {
      const j = await t.call("GET", `/integrators/v1/jobs/${batch.body.jobId}`, { token: tn.token });
      return (j.body.status === "succeeded" || j.body.status === "failed") && j.body;
    });
    expect(job).toMatchObject({ status: "succeeded", total: size, done: size });
    expect(job.results.map((r: { index: number }) => r.index)).toEqual([...Array(size).keys()]);
    expect(job.results.every((r: { error?: string }) => r.error === undefined)).toBe(true);
    const keys = await t.call("GET", lh(tn, "/keys"), { token: tn.token });
    expect(keys.body.keys).toHaveLength(size);
    expect(new Set(job.results.map((r: { keyId: string }) => r.keyId))).toEqual(
      new Set(keys.body.keys.map((k: { id: string }) => k.id)),
    );
    expect(t.logs.lines.filter((l) => l.msg === "batch job conflicted with other work; letting go")).toHaveLength(1);
    expect(t.logs.lines.filter((l) => l.msg === "batch job succeeded")).toHaveLength(1);
  });
});
