import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fromBase64Url, ManualClock, signUnlockProof, toBase64Url } from "@latchkey/protocol";
import { closeHttpServer } from "@latchkey/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerPhone } from "../app.js";
import {
  type BridgeSetup,
  bridgeWithConnection,
  closeAll,
  lh,
  startTestCloud,
  type Tenant,
  type TestCloud,
  tenant,
  until,
} from "../helpers.js";
import { claim, eventReport, factoryLock, keyedLock, sendReports, type TestLock } from "../lock.js";
import { createTestSchema, DATABASE_URL, NO_DATABASE_REASON, type TestSchema } from "../postgres.js";

/**
 * Two cloud processes on one PostgreSQL database (two startCloud instances: separate pools, workers, notifiers and
 * long-polls; they share nothing but the database and the master key, as two processes would).
 */

let schema: TestSchema;
let a: TestCloud;
let b: TestCloud;
let tn: Tenant;
let bridge: BridgeSetup;
let locks: TestLock[];
const servers: Server[] = [];

beforeEach(async (ctx) => {
  if (!DATABASE_URL) ctx.skip(NO_DATABASE_REASON);
  schema = await createTestSchema();
  // One clock for both, as processes on one machine share one: leases and due times agree.
  const clock = new ManualClock(1_800_000_000_000);
  const common = { databaseUrl: schema.url, databasePoolMax: 4, clock, changeFeedFallbackPollMs: 3_600_000 };
  a = await startTestCloud({ ...common, seed: "process-a" });
  b = await startTestCloud({ ...common, seed: "process-b" });
  tn = await tenant(a);
  bridge = await bridgeWithConnection(a, tn);
  await b.call("PUT", `/bridge/v1/vendor-connections/${bridge.vcId}/state`, {
    token: bridge.token,
    body: { state: "connected" },
  });
  const found = await b.call("PUT", `/bridge/v1/vendor-connections/${bridge.vcId}/locks`, {
    token: bridge.token,
    body: { locks: [{ id: "sim-1" }, { id: "sim-2" }] },
  });
  expect(found.status).toBe(200);
  // Claimed through one process, keyed for reports through the other.
  locks = [factoryLock("sim-1"), factoryLock("sim-2")];
  for (const lock of locks) {
    expect((await claim(a, tn, lock)).status).toBe(201);
    await keyedLock(b, bridge, lock);
  }
});

afterEach(async () => {
  for (const s of servers.splice(0)) await closeHttpServer(s);
  await closeAll();
  await schema?.drop();
});

/** Reads a bridge's whole change feed from the start. */
async function wholeFeed(t: TestCloud, token: string): Promise<Record<string, unknown>[]> {
  const all: Record<string, unknown>[] = [];
  let cursor = "";
  for (;;) {
    const page = await t.call("GET", `/bridge/v1/changes?cursor=${cursor}&limit=1000`, { token });
    expect(page.status).toBe(200);
    all.push(...page.body.changes);
    cursor = page.body.cursor;
    if (!page.body.more) return all;
  }
}

describe("several cloud processes on one PostgreSQL database", () => {
  it("each batch job runs once and no key is created twice, with both processes' workers competing", async () => {
    const sizes = [700, 40, 40, 40, 40, 40, 40, 40];
    const jobIds: string[] = [];
    for (const [i, size] of sizes.entries()) {
      const via = i % 2 === 0 ? a : b;
      const res = await via.call("POST", lh(tn, "/keys/batch"), {
        token: tn.token,
        body: {
          keys: Array.from({ length: size }, (_, k) => ({
            lockId: k % 2 ? "sim-1" : "sim-2",
            userId: `+479${String(i * 1000 + k).padStart(7, "0")}`,
            durationMinutes: 60,
          })),
        },
      });
      expect(res.status).toBe(202);
      jobIds.push(res.body.jobId);
    }
    const jobs = [];
    for (const [i, jobId] of jobIds.entries()) {
      // Waits for the job to end either way (pollUntil retries a check that throws, so a failed job would otherwise be
      // waited on until the timeout), then names how it ended and what either worker logged about it.
      const job = await until(
        `job ${jobId} to end`,
        async () => {
          const j = await (i % 2 ? a : b).call("GET", `/integrators/v1/jobs/${jobId}`, { token: tn.token });
          return (j.body.status === "succeeded" || j.body.status === "failed") && j.body;
        },
        60_000,
      );
      const logged = [...a.logs.lines, ...b.logs.lines].filter((l) => l.jobId === jobId);
      expect(job.status, `job ${jobId} ended ${job.status}: ${JSON.stringify(logged)}`).toBe("succeeded");
      jobs.push(job);
    }
    const total = sizes.reduce((x, y) => x + y, 0);
    const keyIds: string[] = [];
    for (const [i, job] of jobs.entries()) {
      expect(job.total).toBe(sizes[i]);
      expect(job.done).toBe(sizes[i]);
      expect(job.results.map((r: { index: number }) => r.index)).toEqual([...Array(sizes[i]).keys()]);
      for (const r of job.results) {
        expect(r.error).toBeUndefined();
        keyIds.push(r.keyId);
      }
    }
    expect(new Set(keyIds).size).toBe(total);
    // Creating a key appends it to the bridge's feed once: a key created twice would be there twice.
    const keyChanges = (await wholeFeed(b, bridge.token)).filter((c) => c.kind === "key");
    expect(keyChanges).toHaveLength(total);
    expect(new Set(keyChanges.map((c) => c.keyId))).toEqual(new Set(keyIds));
    // Each job finished in exactly one of the two processes.
    const finishedIn = (t: TestCloud) =>
      t.logs.lines.filter((l) => l.msg === "batch job succeeded").map((l) => l.jobId as string);
    expect([...finishedIn(a), ...finishedIn(b)].sort()).toEqual([...jobIds].sort());
    const keys = await a.call("GET", lh(tn, "/keys"), { token: tn.token });
    expect(keys.body.keys.filter((k: { state: string }) => k.state === "active")).toHaveLength(Math.min(total, 2500));
    // 980 keys through two processes' workers: ~3 s alone, past the project's 30 s while the whole suite loads both
    // cores (it timed out there once); each job's wait above already allows 60 s.
  }, 120_000);

  it("each webhook delivery is made once, whichever process's worker makes it", async () => {
    const received = new Map<string, number>();
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const id = String(req.headers["webhook-id"]);
        received.set(id, (received.get(id) ?? 0) + 1);
        res.writeHead(204).end();
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const hook = await a.call("POST", lh(tn, "/webhooks"), { token: tn.token, body: { url } });
    expect(hook.status).toBe(201);
    const events = 60;
    for (let i = 0; i < events; i++) {
      const lock = locks[i % 3 ? 0 : 1]!;
      await sendReports(i % 2 ? a : b, bridge, lock, [eventReport(lock, i + 1)]);
    }
    await until(
      "every delivery to be delivered",
      async () => {
        const d = await b.call("GET", lh(tn, `/webhooks/${hook.body.id}/deliveries`), { token: tn.token });
        return (
          d.body.deliveries.length === events &&
          d.body.deliveries.every((x: { status: string }) => x.status === "delivered")
        );
      },
      60_000,
    );
    // Stopping both processes waits for any attempt still in flight, so a late duplicate would be counted now.
    await a.cloud.close();
    await b.cloud.close();
    expect(received.size).toBe(events);
    expect([...received.values()].every((n) => n === 1)).toBe(true);
  });

  it("a key created through process A reaches a bridge long-polling process B, woken by NOTIFY", async () => {
    const start = await b.call("GET", "/bridge/v1/changes", { token: bridge.token });
    const cursor = start.body.cursor;
    const waitSeconds = 20;
    const began = Date.now();
    const poll = b.call("GET", `/bridge/v1/changes?cursor=${cursor}&wait=${waitSeconds}`, { token: bridge.token });
    await until("the long-poll to park in process B", () => b.cloud.waitingLongPolls() === 1);
    const key = await a.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-1", userId: "+4791234567", durationMinutes: 60 },
    });
    expect(key.status).toBe(201);
    const answer = await poll;
    expect(answer.status).toBe(200);
    expect(answer.body.changes).toEqual([
      expect.objectContaining({ kind: "key", keyId: key.body.id, state: "active" }),
    ]);
    // Process B's fallback poll is an hour here and its own process never saw the write: only A's NOTIFY can have
    // answered the long-poll before its wait ran out (the bound is generous: the wake-up takes milliseconds).
    expect(Date.now() - began).toBeLessThan((waitSeconds - 5) * 1000);
  });

  it("a virtual lock's challenge from one process is honoured by the other, once", async () => {
    const vc = await a.call("POST", lh(tn, "/vendor-connections"), {
      token: tn.token,
      body: { vendor: "virtual", locksToCreate: 1 },
    });
    const lockId = (await b.call("GET", lh(tn, "/locks?sort=created"), { token: tn.token })).body.locks.find(
      (l: { vendorConnectionId: string }) => l.vendorConnectionId === vc.body.vendorConnection.id,
    ).id;
    await a.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId, userId: "+4791234567" } });
    const phone = await registerPhone(a, "+4791234567");
    const token = (await b.call("GET", "/app/v1/keys", { token: phone.token })).body.keys[0].token;
    const challenge = await a.call("POST", `/app/v1/virtual-locks/${lockId}/challenge`, { token: phone.token });
    const proof = toBase64Url(
      signUnlockProof({
        lockId,
        nonce: fromBase64Url(challenge.body.nonce),
        token: fromBase64Url(token),
        deviceSecretKey: phone.secretKey,
      }),
    );
    const unlock = (via: TestCloud) =>
      via.call("POST", `/app/v1/virtual-locks/${lockId}/unlock`, {
        token: phone.token,
        body: { token, proof, nonce: challenge.body.nonce },
      });
    const opened = await unlock(b);
    expect(opened.status).toBe(200);
    const replayed = await unlock(a);
    expect(replayed.status).toBe(403);
    expect(replayed.body.error).toBe("bad_proof");
  });

  it("a process whose master key differs from the database's refuses to start, saying why", async () => {
    await expect(
      startTestCloud({ databaseUrl: schema.url, masterKey: new Uint8Array(32).fill(9), seed: "process-c" }),
    ).rejects.toThrow(/master key .* same LATCHKEY_MASTER_KEY/);
  });
});
