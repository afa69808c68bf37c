import type { BatchCreateKeys } from "@latchkey/protocol/contracts";
import { type BenchStore, startBenchSite } from "./site.js";

export interface BatchCreateResult {
  store: BenchStore;
  keys: number;
  requests: number;
  seconds: number;
  keysPerSecond: number;
}

/**
 * Batch create over the HTTP API: N keys (1000 per request, the API's limit) posted one request after another, timed
 * from the first POST until the last job reports `succeeded`, every key checked created. Keys are on locks of a
 * bridge-served connection, so each one also goes on the change feed.
 */
export async function benchBatchCreate(
  options: { keys?: number; databaseUrl?: string } = {},
): Promise<BatchCreateResult> {
  const keys = options.keys ?? 10_000;
  const perRequest = 1000;
  const site = await startBenchSite(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {});
  try {
    const bodies: BatchCreateKeys[] = [];
    for (let from = 0; from < keys; from += perRequest) {
      const items = [];
      for (let i = from; i < Math.min(keys, from + perRequest); i++) {
        items.push({
          lockId: site.lockIds[i % site.lockIds.length]!,
          userId: `+4790${String(i).padStart(6, "0")}`,
          durationMinutes: 60,
        });
      }
      bodies.push({ keys: items });
    }
    const started = process.hrtime.bigint();
    const jobIds: string[] = [];
    for (const body of bodies) jobIds.push(await site.integrator.createKeysBatch(site.lockHolderId, body.keys));
    // Jobs run in the order they were accepted: the last one finishing means all have.
    const last = jobIds[jobIds.length - 1]!;
    for (;;) {
      const job = await site.integrator.getJob(last);
      if (job.status === "succeeded") break;
      if (job.status === "failed") throw new Error(`batch job ${last} failed`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    let created = 0;
    for (const jobId of jobIds) {
      const job = await site.integrator.getJob(jobId);
      if (job.status !== "succeeded") throw new Error(`batch job ${jobId} is ${job.status}`);
      created += job.results.filter((r) => r.error === undefined).length;
    }
    if (created !== keys) throw new Error(`batch create made ${created} of ${keys} keys`);
    return { store: site.store, keys, requests: jobIds.length, seconds, keysPerSecond: keys / seconds };
  } finally {
    await site.close();
  }
}
