import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { ManualClock, toHex } from "@latchkey/protocol";
import { closeHttpServer, readRequestBody } from "@latchkey/runtime";
import { pollUntil } from "@latchkey/scripts";
import { Webhook } from "standardwebhooks";
import { describe, expect, it, vi } from "vitest";
import { accessToken, call, deniedEvent, reportLocks, uploadEvents } from "../src/reliability/bridge-api.js";
import { PaperLock } from "../src/reliability/paper-lock.js";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { ReliabilitySite } from "../src/reliability/site.js";
import { E2eSite } from "../src/site.js";

/**
 * The cloud side: the cloud process killed in the middle of a batch job, and an integrator's webhook receiver down for
 * hours (simulated time, the cloud's default retry policy).
 */
const file = new ReliabilityFile("cloud-faults");
const { tally, logs, secrets } = file;

describe("the cloud process killed in the middle of a batch job", () => {
  it("SIGKILL mid-job: after the restart the job resumes and finishes; no key created twice, none on the feed twice", async () => {
    // Small chunks (each its own transaction): a job takes long enough that the kill lands inside it on any machine.
    const site = await E2eSite.start(file.resources, {
      // A killed worker's job is taken over once its lease ran out: 3 s rather than 30 (a chunk of 10 keys takes ms).
      cloudEnv: { LATCHKEY_BATCH_CHUNK_KEYS: "10", LATCHKEY_BATCH_JOB_LEASE_SECONDS: "3" },
    });
    logs.attach("cloud", site.cloud!.child);
    secrets.add("integrator client secret", site.creds.clientSecret);
    secrets.add("bridge secret", site.bridgeSecret);
    const bridgeToken = await accessToken(site.apiUrl, site.bridgeId, site.bridgeSecret, "bridge");
    const lockIds = Array.from({ length: 5 }, (_, i) => `batch-lock-${i}`);
    await reportLocks(site.apiUrl, bridgeToken, site.vendorConnectionId, lockIds);
    // Keys only for claimed locks (docs/design.md section 7): the lock holder claims each with its setup code.
    for (const lockId of lockIds)
      await site.client.claimLock(site.lockHolderId, new PaperLock(lockId).track(secrets).setupCode);

    // Jobs of 1000 keys (the most one request takes), each worked in chunks of 10 keys, two submitted at once. The
    // cloud is killed as soon as the first chunk is seen committed: whatever the machine's speed, work is left over.
    const PER_JOB = 1000;
    const JOBS_PER_TRY = 2;
    const jobIds: string[] = [];
    let interrupted: { id: string; done: number } | null = null;
    for (let attempt = 0; attempt < 5 && !interrupted; attempt++) {
      const batch: string[] = [];
      for (let b = 0; b < JOBS_PER_TRY; b++) {
        const n = jobIds.length;
        const keys = Array.from({ length: PER_JOB }, (_, i) => ({
          lockId: lockIds[i % lockIds.length]!,
          userId: `+479${String(n * PER_JOB + i).padStart(7, "0")}`,
        }));
        const jobId = await site.client.createKeysBatch(site.lockHolderId, keys);
        jobIds.push(jobId);
        batch.push(jobId);
      }
      await pollUntil(
        "a chunk of the jobs committed",
        async () => {
          for (const id of batch) if ((await site.client.getJob(id)).done > 0) return true;
          return false;
        },
        { timeoutMs: 60_000, intervalMs: 2 },
      );
      expect(await site.stopCloud("SIGKILL")).toBeNull();
      tally.fault();
      await site.startCloud();
      logs.attach("cloud", site.cloud!.child);
      const after = await Promise.all(batch.map((id) => site.client.getJob(id)));
      const done = after.reduce((sum, job) => sum + job.done, 0);
      const unfinished = after.find((job) => job.status !== "succeeded");
      if (unfinished && done > 0) interrupted = { id: unfinished.id, done };
    }
    expect(interrupted, "a kill landed inside a job").not.toBeNull();
    expect(interrupted!.done).toBeGreaterThan(0);
    const TOTAL = jobIds.length * PER_JOB;
    // The killed worker's lease (3 s here) runs out, then the new process takes the job over where it stood.
    const keyIds: string[] = [];
    for (const jobId of jobIds) {
      const job = await site.client.waitForJob(jobId, { timeoutMs: 120_000, intervalMs: 250 });
      expect(job.status).toBe("succeeded");
      expect(job.done).toBe(PER_JOB);
      expect(job.results.map((r) => r.index)).toEqual(Array.from({ length: PER_JOB }, (_, i) => i));
      expect(job.results.filter((r) => r.error !== undefined)).toEqual([]);
      keyIds.push(...job.results.map((r) => r.keyId!));
    }
    expect(new Set(keyIds).size).toBe(TOTAL);

    // The integrator sees each key once…
    const listed: string[] = [];
    let startAfterId: string | undefined;
    do {
      const page = await site.client.listKeys(site.lockHolderId, {
        limit: 2500,
        ...(startAfterId ? { startAfterId } : {}),
      });
      listed.push(...page.keys.map((k) => k.id));
      startAfterId = page.startAfterId;
    } while (startAfterId);
    expect(listed.length).toBe(TOTAL);
    expect(new Set(listed)).toEqual(new Set(keyIds));
    // …and so does the bridge: each key on the change feed once.
    const onFeed = new Map<string, number>();
    let cursor = "";
    for (;;) {
      const page = await call(site.apiUrl, "GET", `/bridge/v1/changes?cursor=${cursor}&limit=1000`, {
        token: bridgeToken,
      });
      expect(page.status).toBe(200);
      for (const change of page.body.changes as Array<{ kind: string; keyId?: string }>)
        if (change.kind === "key") onFeed.set(change.keyId!, (onFeed.get(change.keyId!) ?? 0) + 1);
      cursor = page.body.cursor;
      if (!page.body.more) break;
    }
    expect(onFeed.size).toBe(TOTAL);
    expect([...onFeed.values()].every((n) => n === 1)).toBe(true);
    tally.note("batch keys across the kill", TOTAL);
  });
});

/** An integrator's webhook endpoint: down (not listening), answering 503, or up (recording what it gets). */
class Receiver {
  readonly got: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  mode: "up" | "503" = "up";
  private server: Server | null = null;
  port = 0;

  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      void readRequestBody(req).then((body) => {
        if (this.mode === "503") return res.writeHead(503).end();
        this.got.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    const address = server.address();
    this.port = typeof address === "object" && address ? address.port : this.port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await closeHttpServer(server);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/latchkey`;
  }
}

describe("the webhook receiver down for hours", () => {
  it("deliveries are retried with growing delays and delivered, signed, once it is back; replays and alterations are detectable", async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "webhooks", clock });
    const receiver = new Receiver();
    await receiver.listen();
    file.resources.defer("stop the receiver", () => receiver.down());
    // Unlock attempts only: the one delivery this test follows (the site's other changes have their own types).
    const hook = await site.client.createWebhook(site.lockHolderId, receiver.url, ["key_event.created"]);
    secrets.add("webhook secret", hook.secret);
    const bridgeToken = await accessToken(site.apiUrl, site.bridgeId, site.bridgeSecret, "bridge");
    await reportLocks(site.apiUrl, bridgeToken, site.vendorConnectionId, ["hook-lock"]);
    const lock = new PaperLock("hook-lock").track(secrets);
    await site.client.claimLock(site.lockHolderId, lock.setupCode);

    await receiver.down();
    tally.fault();
    // The lock's own sealed report of a denied attempt: the only way an event reaches the cloud (and its webhooks).
    const event = deniedEvent(1, Math.floor(clock.now() / 1000));
    expect(await uploadEvents(site.apiUrl, bridgeToken, lock, [event])).toEqual(["ok"]);
    const eventId = toHex(event.id);

    const delivery = async () => (await site.client.webhookDeliveries(site.lockHolderId, hook.id))[0]!;
    const policy = { baseDelayMs: 1000, maxDelayMs: 3_600_000 };
    const downFor = 6 * 3_600_000;
    const started = clock.now();
    let last = started;
    let attempts = 0;
    // Each retry happens when the cloud's clock reaches its time; the receiver stays away for six hours.
    for (;;) {
      const d = await pollUntil(
        `attempt ${attempts + 1}`,
        async () => {
          const now = await delivery();
          return now.attempts > attempts || now.status !== "pending" ? now : null;
        },
        { timeoutMs: 30_000, intervalMs: 20 },
      );
      expect(d.status, `still pending after ${d.attempts} attempts, ${(clock.now() - started) / 3.6e6} h`).toBe(
        "pending",
      );
      attempts = d.attempts;
      tally.fault();
      const next = Date.parse(d.nextAttempt!);
      // Exponential backoff with full jitter: the n-th wait is at most base·2^(n-1), capped.
      expect(next - last).toBeLessThanOrEqual(Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempts - 1)));
      if (next - started >= downFor) break;
      if (attempts % 4 === 0) receiver.mode = "503";
      clock.set(next);
      last = next;
      if (receiver.mode === "503") {
        await receiver.listen();
        await pollUntil("a 503 answered", async () => (await delivery()).attempts > attempts, { intervalMs: 20 });
        attempts = (await delivery()).attempts;
        await receiver.down();
        receiver.mode = "up";
        last = clock.now();
        const after = await delivery();
        if (Date.parse(after.nextAttempt!) - started >= downFor) break;
        clock.set(Date.parse(after.nextAttempt!));
        last = clock.now();
      }
    }
    expect(attempts).toBeGreaterThanOrEqual(10);
    tally.note("webhook attempts while down 6 h", attempts);

    await receiver.listen();
    clock.set(Date.parse((await delivery()).nextAttempt!));
    await pollUntil("the delivery", () => receiver.got.length > 0, { timeoutMs: 30_000 });
    expect((await delivery()).status).toBe("delivered");
    const [got] = receiver.got;
    const verifier = new Webhook(hook.secret);
    const payload = verifier.verify(got!.body, got!.headers as Record<string, string>) as {
      type: string;
      data: { id: string; lockId: string; action: string };
    };
    expect(payload).toMatchObject({ type: "key_event.created", data: { id: eventId, lockId: "hook-lock" } });

    // Altered in transit: the body, or the id it is signed with.
    const tampered = got!.body.replace(eventId, "0".repeat(32));
    expect(() => verifier.verify(tampered, got!.headers as Record<string, string>)).toThrow(/signature/i);
    expect(() =>
      verifier.verify(got!.body, { ...(got!.headers as Record<string, string>), "webhook-id": "msg_replayed" }),
    ).toThrow(/signature/i);
    // Replayed an hour later: the signed timestamp is too old for the receiver.
    vi.useFakeTimers({ now: Date.now() + 3_600_000, toFake: ["Date"] });
    try {
      expect(() => verifier.verify(got!.body, got!.headers as Record<string, string>)).toThrow(/too old/i);
    } finally {
      vi.useRealTimers();
    }
    tally.refuse(3);
  });
});
