import type { CloudContext } from "../context.js";
import { connectionErrorDescription } from "../domain/keys.js";
import { FeedWriter } from "../feed/changes.js";
import type { JobRecord, JobResult } from "../store/records.js";
import type { Tx } from "../store/store.js";

export const JOB_LEASE_MS = 30_000;

/**
 * Runs batch key-creation jobs. Each item is one transaction that also records the job's progress, so a restart
 * resumes exactly after the last finished item; a job left `running` by a dead worker is taken over when its lease ends.
 */
export async function runNextJob(ctx: CloudContext): Promise<boolean> {
  const job = await ctx.store.transaction((tx) => tx.jobs.claimNext(ctx.clock.now(), JOB_LEASE_MS));
  if (!job) return false;
  try {
    const results = [...job.results];
    for (let index = results.length; index < job.total; index++) {
      await ctx.store.transaction(async (tx) => {
        results.push(await createItem(tx, ctx, job, index));
        const now = ctx.clock.now();
        await tx.jobs.progress(job.id, index + 1, results, now, now + JOB_LEASE_MS);
      });
      ctx.notifier.notify();
    }
    await ctx.store.transaction((tx) => tx.jobs.finish(job.id, "succeeded", ctx.clock.now()));
  } catch (err) {
    ctx.log.error({ err, jobId: job.id }, "batch job failed");
    await ctx.store.transaction((tx) => tx.jobs.finish(job.id, "failed", ctx.clock.now()));
  }
  return true;
}

async function createItem(tx: Tx, ctx: CloudContext, job: JobRecord, index: number): Promise<JobResult> {
  const keyId = job.keyIds[index]!;
  const key = await tx.keys.get(keyId);
  if (!key) return { index, error: "the key no longer exists" };
  if (key.status !== "creating") {
    return {
      index,
      keyId,
      error: key.status === "revoked" ? "the key was revoked before it was created" : `key is ${key.status}`,
    };
  }
  const fail = async (error: string): Promise<JobResult> => {
    await tx.keys.setStatus(key.id, "error", { error });
    return { index, keyId, error };
  };
  const lock = await tx.locks.get(key.lockId);
  if (!lock || lock.removedAt !== null || lock.lockHolderId !== key.lockHolderId) return fail("the lock was removed");
  const vc = await tx.vendorConnections.get(lock.vendorConnectionId);
  if (!vc || vc.deletedAt !== null) return fail("the lock's vendor connection was deleted");
  if (vc.state === "error") return fail(connectionErrorDescription(vc));
  await tx.keys.setStatus(key.id, "created", {});
  if (vc.bridgeId !== null) await new FeedWriter(tx, ctx).key({ ...key, status: "created" }, vc.id);
  return { index, keyId };
}
