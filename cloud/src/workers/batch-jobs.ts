import type { JobItemErrorCode } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../context.js";
import { connectionErrorDescription } from "../domain/keys.js";
import { jobView, keyView } from "../domain/views.js";
import { queueWebhookEvent, queueWebhookEvents, type WebhookEvent } from "../domain/webhook-events.js";
import { FeedWriter } from "../feed/changes.js";
import { StoreConflictError } from "../store/errors.js";
import type {
  JobRecord,
  JobResult,
  JobStatus,
  KeyRecord,
  LockRecord,
  VendorConnectionRecord,
} from "../store/records.js";
import type { Tx } from "../store/store.js";

/** Another worker took the job over (this one's lease ran out): roll back the chunk and let go. */
class JobTakenOver extends Error {}

/**
 * Runs batch key-creation jobs, `settings.batchChunkKeys` items per transaction: one transaction per item made a
 * 10,000-key job commit 10,000 times and rewrite its growing results each time, while a chunk reads its keys, locks,
 * connections and claims in four statements and writes them in a few. Each chunk also records the job's progress, so a
 * restart resumes exactly after the last finished chunk; a job left `running` by a dead worker is taken over when its
 * lease ends, and the progress write only succeeds from where the job stood, so no item is ever done twice even with
 * several cloud processes on one database.
 */
export async function runNextJob(ctx: CloudContext): Promise<boolean> {
  const leaseMs = ctx.settings.batchJobLeaseSeconds * 1000;
  const job = await ctx.store.transaction((tx) => tx.jobs.claimNext(ctx.clock.now(), leaseMs));
  if (!job) return false;
  let results = job.results;
  try {
    while (results.length < job.total) {
      const from = results.length;
      const to = Math.min(job.total, from + ctx.settings.batchChunkKeys);
      const before = results;
      results = await ctx.store.transaction(async (tx) => {
        const next = [...before, ...(await createItems(tx, ctx, job, from, to))];
        const now = ctx.clock.now();
        if (!(await tx.jobs.progress(job.id, from, to, next, now, now + leaseMs))) throw new JobTakenOver();
        return next;
      });
      ctx.notifier.notify();
      // SQLite transactions complete without giving the event loop a turn: without this a 1,000-key job would hold
      // every API request (and the job's own progress report) until it finished.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    // A job none of whose items was created failed (docs/webhooks.md "Batch jobs"): its errors say why.
    const status = job.total > 0 && results.every((r) => r.error !== undefined) ? "failed" : "succeeded";
    await finish(ctx, job, status, results);
    ctx.log.info({ jobId: job.id, total: job.total }, `batch job ${status}`);
  } catch (err) {
    if (err instanceof JobTakenOver) {
      ctx.log.warn({ jobId: job.id }, "batch job taken over by another worker; letting go");
      return true;
    }
    // Workers of several processes contending on one database is no fault of the job: its chunk rolled back whole,
    // so the job is handed back where it stood and claimed again (by this worker or another), never failed for it.
    // Its lease is cleared rather than left to run out, since a lease only ends when the clock moves.
    if (err instanceof StoreConflictError) {
      ctx.log.warn({ err, jobId: job.id, done: results.length }, "batch job conflicted with other work; letting go");
      await ctx.store.transaction((tx) => tx.jobs.release(job.id, results.length, ctx.clock.now()));
      return true;
    }
    ctx.log.error({ err, jobId: job.id }, "batch job failed");
    await finish(ctx, job, "failed", results);
  }
  return true;
}

/** Ends the job and queues `batch_job.finished` in the same transaction: the webhook is sent once it has ended. */
async function finish(ctx: CloudContext, job: JobRecord, status: JobStatus, results: JobResult[]): Promise<void> {
  await ctx.store.transaction(async (tx) => {
    const now = ctx.clock.now();
    if (!(await tx.jobs.finish(job.id, status, now))) return;
    const ended: JobRecord = { ...job, status, results, done: results.length, updatedAt: now };
    await queueWebhookEvent(tx, ctx, {
      lockHolderId: job.lockHolderId,
      type: "batch_job.finished",
      data: jobView(ended),
    });
  });
}

const unique = (values: Iterable<string>) => [...new Set(values)];

/** Why a batch item was not created: its code (contracts JOB_ITEM_ERROR_CODES) and the words for it. */
type Refusal = { code: JobItemErrorCode; error: string };

/** Why a `creating` key cannot be created now, if it cannot: its lock or connection went away or broke meanwhile. */
function refusal(
  key: KeyRecord,
  lock: LockRecord | undefined,
  vc: VendorConnectionRecord | undefined,
  claimed: ReadonlySet<string>,
): Refusal | undefined {
  if (!lock || lock.removedAt !== null || lock.lockHolderId !== key.lockHolderId) {
    return { code: "lock_removed", error: "the lock was removed" };
  }
  if (lock.vendor !== "virtual" && !claimed.has(lock.id)) {
    return { code: "lock_not_claimed", error: `lock ${JSON.stringify(lock.id)} is not claimed` };
  }
  if (!vc || vc.deletedAt !== null) {
    return { code: "vendor_connection_deleted", error: "the lock's vendor connection was deleted" };
  }
  // The same words and code single key creation answers with its 403 (domain/keys.ts assertConnectionUsable).
  if (vc.state === "error") return { code: "vendor_connection_error", error: connectionErrorDescription(vc) };
  return undefined;
}

/** One chunk of a job, set-based: its keys, their locks, connections and claims read in four statements. */
async function createItems(tx: Tx, ctx: CloudContext, job: JobRecord, from: number, to: number): Promise<JobResult[]> {
  const byId = <T extends { id: string }>(records: T[]) => new Map(records.map((r) => [r.id, r]));
  const keys = byId(await tx.keys.getMany(job.keyIds.slice(from, to)));
  const locks = byId(await tx.locks.getMany(unique([...keys.values()].map((k) => k.lockId))));
  const connections = byId(
    await tx.vendorConnections.getMany(unique([...locks.values()].map((l) => l.vendorConnectionId))),
  );
  // Checked at acceptance too (routes/integrator/keys.ts); again here, since the job runs later.
  const claimed = new Set(
    (await tx.lockClaims.getMany([...locks.keys()]))
      .filter((c) => c.lockHolderId === job.lockHolderId)
      .map((c) => c.lockId),
  );
  const results: JobResult[] = [];
  const created: string[] = [];
  const onFeed: { key: KeyRecord; vendorConnectionId: string }[] = [];
  const failed: { keyId: string; error: string }[] = [];
  const events: WebhookEvent[] = [];
  for (let index = from; index < to; index++) {
    const keyId = job.keyIds[index]!;
    const key = keys.get(keyId);
    if (!key) {
      results.push({ index, error: "the key no longer exists", code: "key_gone" });
      continue;
    }
    if (key.status !== "creating") {
      results.push(
        key.status === "revoked"
          ? { index, keyId, error: "the key was revoked before it was created", code: "key_revoked" }
          : { index, keyId, error: `key is ${key.status}`, code: "key_not_creating" },
      );
      continue;
    }
    const lock = locks.get(key.lockId);
    const vc = lock && connections.get(lock.vendorConnectionId);
    const refused = refusal(key, lock, vc, claimed);
    if (refused !== undefined || !vc) {
      const why = refused ?? { code: "vendor_connection_deleted", error: "the lock's vendor connection was deleted" };
      failed.push({ keyId, error: why.error });
      results.push({ index, keyId, ...why });
      continue;
    }
    created.push(key.id);
    // Made only for a webhook that takes it (webhook-events.ts): most lock holders have none.
    events.push({
      lockHolderId: key.lockHolderId,
      type: "key.created",
      data: () => keyView(ctx, { ...key, status: "created" }),
    });
    // Virtual connections have no bridge to tell.
    if (vc.bridgeId !== null) onFeed.push({ key: { ...key, status: "created" }, vendorConnectionId: vc.id });
    results.push({ index, keyId });
  }
  await tx.keys.markCreated(created);
  for (const f of failed) await tx.keys.setStatus(f.keyId, "error", { error: f.error });
  await new FeedWriter(tx, ctx).keys(onFeed);
  await queueWebhookEvents(tx, ctx, events);
  return results;
}
