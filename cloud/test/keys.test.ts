import { describe, expect, it } from "vitest";
import {
  bridgeWithConnection,
  closeAll,
  lh,
  startTestCloud,
  type Tenant,
  type TestCloud,
  tenant,
  tenantSiteEach,
  until,
  virtualLocks,
} from "./helpers.js";
import { claim, factoryLock, reportedAndClaimed, reportFound } from "./lock.js";

let t: TestCloud;
let tn: Tenant;
let lockIds: string[];

tenantSiteEach({}, async (s) => {
  ({ t, tn } = s);
  ({ lockIds } = await virtualLocks(t, tn, 3));
});

const NOW = "2027-01-15T08:00:00.000Z"; // ManualClock default, 1_800_000_000_000 ms

describe("changelog 1: batch create keys", () => {
  it("answers 202 with a job id; the job creates every key and reports per-item results", async () => {
    const res = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: {
        keys: [
          { lockId: lockIds[0]!, userId: "+4791234567", durationMinutes: 60 },
          { lockId: lockIds[1]!, userId: "98765432", end: "2027-02-01T00:00:00Z", metadata: { unit: "3A" } },
        ],
      },
    });
    expect(res.status).toBe(202);
    expect(res.body.jobId).toMatch(/^job_/);
    const job = await until("job to succeed", async () => {
      const j = await t.call("GET", `/integrators/v1/jobs/${res.body.jobId}`, { token: tn.token });
      return j.body.status === "succeeded" && j.body;
    });
    expect(job).toMatchObject({ total: 2, done: 2 });
    expect(job.results).toHaveLength(2);
    for (const [i, r] of job.results.entries()) {
      expect(r.index).toBe(i);
      expect(r.error).toBeUndefined();
      const key = await t.call("GET", lh(tn, `/keys/${r.keyId}`), { token: tn.token });
      expect(key.body.state).toBe("active");
    }
    const second = await t.call("GET", lh(tn, `/keys/${job.results[1].keyId}`), { token: tn.token });
    expect(second.body).toMatchObject({
      userId: "+4798765432",
      metadata: { unit: "3A" },
      end: "2027-02-01T00:00:00.000Z",
    });
  });

  it("refuses the whole batch with 400 naming the bad item, and starts no job", async () => {
    const before = await t.call("GET", lh(tn, "/keys"), { token: tn.token });
    const res = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: {
        keys: [
          { lockId: lockIds[0]!, userId: "+4791234567", durationMinutes: 60 },
          { lockId: lockIds[0]!, userId: "not a phone", durationMinutes: 60 },
        ],
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.errorDescription).toContain("keys.1.userId");
    const unknownLock = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: [{ lockId: "no-such-lock", userId: "+4791234567" }] },
    });
    expect(unknownLock.status).toBe(400);
    expect(unknownLock.body.errorDescription).toContain("keys.0.lockId");
    const bothEnds = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: [{ lockId: lockIds[0]!, userId: "+4791234567", end: "2027-02-01T00:00:00Z", durationMinutes: 5 }] },
    });
    expect(bothEnds.status).toBe(400);
    const after = await t.call("GET", lh(tn, "/keys"), { token: tn.token });
    expect(after.body.keys).toHaveLength(before.body.keys.length);
  });

  it("keys are `creating` until the job runs; an item whose connection is in error fails alone", async () => {
    await closeAll();
    t = await startTestCloud({ workers: false });
    tn = await tenant(t);
    ({ lockIds } = await virtualLocks(t, tn, 1));
    const res = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: [{ lockId: lockIds[0]!, userId: "+4791234567" }] },
    });
    const job = await t.call("GET", `/integrators/v1/jobs/${res.body.jobId}`, { token: tn.token });
    expect(job.body).toMatchObject({ status: "pending", total: 1, done: 0, results: [] });
    const keys = await t.call("GET", lh(tn, "/keys"), { token: tn.token });
    expect(keys.body.keys.map((k: { state: string }) => k.state)).toEqual(["creating"]);
  });

  it("a restart resumes a persisted job", async () => {
    await closeAll();
    const first = await startTestCloud({ workers: false });
    const dir = first.dir;
    tn = await tenant(first);
    ({ lockIds } = await virtualLocks(first, tn, 1));
    const res = await first.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: {
        keys: [
          { lockId: lockIds[0]!, userId: "+4791234567" },
          { lockId: lockIds[0]!, userId: "+4791234568" },
        ],
      },
    });
    expect(res.status).toBe(202);
    await first.cloud.close();
    const second = await startTestCloud({ dataDir: dir, clock: first.clock, seed: "second-run" });
    try {
      const job = await until("job to resume and succeed", async () => {
        const j = await second.call("GET", `/integrators/v1/jobs/${res.body.jobId}`, { token: tn.token });
        return j.body.status === "succeeded" && j.body;
      });
      expect(job.done).toBe(2);
    } finally {
      await second.close();
      const { rmSync } = await import("node:fs");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("another integrator cannot read the job", async () => {
    const res = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: [{ lockId: lockIds[0]!, userId: "+4791234567" }] },
    });
    const other = await tenant(t, "Other");
    const peek = await t.call("GET", `/integrators/v1/jobs/${res.body.jobId}`, { token: other.token });
    expect(peek.status).toBe(404);
  });
});

describe("changelog 2: key duration", () => {
  it("durationMinutes counts from start, and start defaults to now", async () => {
    const res = await t.call("POST", lh(tn, `/locks/${lockIds[0]!}/keys`), {
      token: tn.token,
      body: { userId: "+4791234567", durationMinutes: 90 },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ start: NOW, end: "2027-01-15T09:30:00.000Z", state: "active" });
    const later = await t.call("POST", lh(tn, `/locks/${lockIds[0]!}/keys`), {
      token: tn.token,
      body: { userId: "+4791234567", start: "2027-03-01T10:00:00Z", durationMinutes: 30 },
    });
    expect(later.body).toMatchObject({
      start: "2027-03-01T10:00:00.000Z",
      end: "2027-03-01T10:30:00.000Z",
      state: "scheduled",
    });
  });

  it("end and durationMinutes together → 400", async () => {
    const res = await t.call("POST", lh(tn, `/locks/${lockIds[0]!}/keys`), {
      token: tn.token,
      body: { userId: "+4791234567", end: "2027-02-01T00:00:00Z", durationMinutes: 30 },
    });
    expect(res.status).toBe(400);
    expect(res.body.errorDescription).toMatch(/end or durationMinutes/);
  });

  it("end before start or in the past → 400", async () => {
    for (const body of [
      { userId: "+4791234567", start: "2027-03-01T10:00:00Z", end: "2027-03-01T09:00:00Z" },
      { userId: "+4791234567", end: "2020-01-01T00:00:00Z" },
    ]) {
      const res = await t.call("POST", lh(tn, `/locks/${lockIds[0]!}/keys`), { token: tn.token, body });
      expect(res.status).toBe(400);
    }
  });

  it("states follow the clock: scheduled → active → expired", async () => {
    const res = await t.call("POST", lh(tn, `/locks/${lockIds[0]!}/keys`), {
      token: tn.token,
      body: { userId: "+4791234567", start: "2027-01-15T09:00:00Z", durationMinutes: 60 },
    });
    const get = async () => (await t.call("GET", lh(tn, `/keys/${res.body.id}`), { token: tn.token })).body.state;
    expect(await get()).toBe("scheduled");
    t.clock.advance(60 * 60_000);
    expect(await get()).toBe("active");
    t.clock.advance(60 * 60_000);
    expect(await get()).toBe("expired");
  });
});

describe("changelog 9: create key with the lock id in the body", () => {
  it("behaves exactly like the path form", async () => {
    const path = await t.call("POST", lh(tn, `/locks/${lockIds[0]!}/keys`), {
      token: tn.token,
      body: { userId: "+4791234567", durationMinutes: 60 },
    });
    const body = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567", durationMinutes: 60 },
    });
    expect(body.status).toBe(201);
    const strip = (k: Record<string, unknown>) => ({ ...k, id: undefined, useKeyUrl: undefined, created: undefined });
    expect(strip(body.body)).toEqual(strip(path.body));
    const unknown = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "nope", userId: "+4791234567" },
    });
    const unknownPath = await t.call("POST", lh(tn, "/locks/nope/keys"), {
      token: tn.token,
      body: { userId: "+4791234567" },
    });
    expect(unknown.status).toBe(404);
    expect(unknownPath.status).toBe(404);
    const missing = await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { userId: "+4791234567" } });
    expect(missing.status).toBe(400);
    expect(missing.body.errorDescription).toContain("lockId");
  });
});

describe("changelog 11: get a single key", () => {
  it("answers the key, 404 for unknown ids and other tenants' keys", async () => {
    const created = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567" },
    });
    const got = await t.call("GET", lh(tn, `/keys/${created.body.id}`), { token: tn.token });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);
    expect(got.body.toUser).toEqual({ id: "+4791234567" });
    expect(got.body.end).toBeNull();
    expect((await t.call("GET", lh(tn, "/keys/key_doesnotexist"), { token: tn.token })).status).toBe(404);
    const other = await tenant(t, "Other");
    const cross = await t.call("GET", `/integrators/v1/lock-holders/${other.lockHolderId}/keys/${created.body.id}`, {
      token: other.token,
    });
    expect(cross.status).toBe(404);
  });

  it("revocation: PUT {state: revoked}", async () => {
    const created = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567" },
    });
    const revoked = await t.call("PUT", lh(tn, `/keys/${created.body.id}`), {
      token: tn.token,
      body: { state: "revoked" },
    });
    expect(revoked.body.state).toBe("revoked");
    const bad = await t.call("PUT", lh(tn, `/keys/${created.body.id}`), { token: tn.token, body: { state: "active" } });
    expect(bad.status).toBe(400);
  });
});

describe("changelog 13: custom key metadata", () => {
  it("is returned exactly as stored", async () => {
    const metadata = { bookingId: "B-1", nested: { list: [1, "two", null, true], n: 1.5 }, empty: {} };
    const created = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567", metadata },
    });
    expect(created.body.metadata).toEqual(metadata);
    const list = await t.call("GET", lh(tn, "/keys"), { token: tn.token });
    expect(list.body.keys[0].metadata).toEqual(metadata);
  });

  it("over 4 KiB → 400; not an object → 400", async () => {
    const big = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567", metadata: { blob: "x".repeat(4100) } },
    });
    expect(big.status).toBe(400);
    expect(big.body.errorDescription).toMatch(/metadata.*4096/);
    for (const metadata of ["text", [1, 2], 5, null]) {
      const res = await t.call("POST", lh(tn, "/keys"), {
        token: tn.token,
        body: { lockId: lockIds[0]!, userId: "+4791234567", metadata },
      });
      expect(res.status).toBe(400);
    }
  });
});

describe("changelog 15: key creation while the vendor connection is in error", () => {
  it("answers 403 with a clear errorDescription; after a fix and refresh keys work again", async () => {
    const br = await bridgeWithConnection(t, tn);
    await reportedAndClaimed(t, tn, br, factoryLock("sim-lock-1"));
    const report = await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/state`, {
      token: br.token,
      body: { state: "error", reason: "invalid vendor credentials" },
    });
    expect(report.status).toBe(204);
    let res403Description = "";
    for (const [url, body] of [
      [lh(tn, "/locks/sim-lock-1/keys"), { userId: "+4791234567" }],
      [lh(tn, "/keys"), { lockId: "sim-lock-1", userId: "+4791234567" }],
    ] as const) {
      const res = await t.call("POST", url, { token: tn.token, body });
      expect(res.status).toBe(403);
      res403Description = res.body.errorDescription;
      expect(res.body.error).toBe("vendor_connection_error");
      expect(res.body.errorDescription).toContain(br.vcId);
      expect(res.body.errorDescription).toContain("invalid vendor credentials");
    }
    const batch = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: [{ lockId: "sim-lock-1", userId: "+4791234567" }] },
    });
    const job = await until("batch job", async () => {
      const j = await t.call("GET", `/integrators/v1/jobs/${batch.body.jobId}`, { token: tn.token });
      return j.body.state !== "inProgress" && j.body;
    });
    // Every item failed: the job says so (issue 14), each error with the 403's reason code and words.
    expect(job).toMatchObject({ status: "failed", state: "failedValidation" });
    expect(job.errors).toEqual([
      { index: 0, keyId: job.results[0].keyId, code: "vendor_connection_error", message: res403Description },
    ]);
    expect(job.results[0].error).toContain("in error");
    expect((await t.call("GET", lh(tn, `/keys/${job.results[0].keyId}`), { token: tn.token })).body.state).toBe(
      "error",
    );

    await t.call("PUT", lh(tn, `/vendor-connections/${br.vcId}/update-password`), {
      token: tn.token,
      body: { password: "fixed" },
    });
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/state`, {
      token: br.token,
      body: { state: "connected" },
    });
    const ok = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-lock-1", userId: "+4791234567" },
    });
    expect(ok.status).toBe(201);
  });
});

describe("changelog 8 (on key creation): userId must be a phone number", () => {
  it("422 for a bad number; national numbers are read in the lock holder's country", async () => {
    const bad = await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId: lockIds[0]!, userId: "12" } });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toBe("invalid_phone_number");
    const national = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "912 34 567" },
    });
    expect(national.body.userId).toBe("+4791234567");
  });
});

describe("claims: keys only for a lock its holder has claimed (docs/design.md section 7)", () => {
  it("refuses a key for an unclaimed lock on every path with 409 lock_not_claimed naming the lock; none is stored", async () => {
    const br = await bridgeWithConnection(t, tn);
    await reportFound(t, br, { id: "sim-unclaimed" });
    const before = (await t.call("GET", lh(tn, "/keys"), { token: tn.token })).body.keys.length;
    for (const [url, body] of [
      [lh(tn, "/locks/sim-unclaimed/keys"), { userId: "+4791234567" }],
      [lh(tn, "/keys"), { lockId: "sim-unclaimed", userId: "+4791234567" }],
    ] as const) {
      const res = await t.call("POST", url, { token: tn.token, body });
      expect(res.status, url).toBe(409);
      expect(res.body.error).toBe("lock_not_claimed");
      expect(res.body.errorDescription).toContain('"sim-unclaimed"');
    }
    const batch = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: {
        keys: [
          { lockId: lockIds[0]!, userId: "+4791234567" },
          { lockId: "sim-unclaimed", userId: "+4791234567" },
        ],
      },
    });
    expect(batch.status).toBe(409);
    expect(batch.body.error).toBe("lock_not_claimed");
    expect(batch.body.errorDescription).toMatch(/^body\.keys\.1\.lockId: lock "sim-unclaimed" is not claimed/);
    expect((await t.call("GET", lh(tn, "/keys"), { token: tn.token })).body.keys).toHaveLength(before);

    // Claimed with its setup code, the same lock takes keys on every path (virtual locks: claimed by construction).
    expect((await claim(t, tn, factoryLock("sim-unclaimed"))).status).toBe(201);
    const single = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-unclaimed", userId: "+4791234567" },
    });
    expect(single.status).toBe(201);
    const accepted = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: [{ lockId: "sim-unclaimed", userId: "+4791234567" }] },
    });
    expect(accepted.status).toBe(202);
    const job = await until("batch job", async () => {
      const j = await t.call("GET", `/integrators/v1/jobs/${accepted.body.jobId}`, { token: tn.token });
      return j.body.status === "succeeded" && j.body;
    });
    expect(job.results[0].error).toBeUndefined();
  });

  it("answers alike whether nobody or another lock holder claimed the lock: nothing names the other tenant", async () => {
    const br = await bridgeWithConnection(t, tn);
    await reportFound(t, br, { id: "sim-nobodys" }, { id: "sim-theirs" });
    const other = await tenant(t, "Other");
    expect((await claim(t, other, factoryLock("sim-theirs"))).status).toBe(201);
    const answers = [];
    for (const lockId of ["sim-nobodys", "sim-theirs"]) {
      const res = await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId, userId: "+4791234567" } });
      expect(res.status).toBe(409);
      answers.push(JSON.stringify(res.body).replaceAll(lockId, "<lock>"));
      for (const secret of [other.lockHolderId, other.integratorId, "Other"]) {
        expect(JSON.stringify(res.body)).not.toContain(secret);
      }
    }
    expect(answers[0]).toBe(answers[1]);
  });
});
