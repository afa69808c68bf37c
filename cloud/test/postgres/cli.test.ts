import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanEnv, cleanUpBins, listeningUrl, run, tempDir } from "../bin.js";
import { until } from "../helpers.js";
import { createTestSchema, DATABASE_URL, NO_DATABASE_REASON, type TestSchema } from "../postgres.js";

let schema: TestSchema;

beforeEach(async (ctx) => {
  if (!DATABASE_URL) ctx.skip(NO_DATABASE_REASON);
  schema = await createTestSchema();
});
afterEach(async () => {
  await cleanUpBins();
  await schema?.drop();
});

async function call(url: string, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
}

describe("latchkey-cloud processes on PostgreSQL (DATABASE_URL)", () => {
  it("bootstrap once, two serve processes on one database share everything; a different master key is refused", async () => {
    const env = cleanEnv({ DATABASE_URL: schema.url, DATABASE_POOL_MAX: "3", LATCHKEY_MASTER_KEY: "ab".repeat(32) });
    const boot = run(["bootstrap", "--data", tempDir(), "--json"], env);
    expect(await boot.exit, boot.stderr()).toBe(0);
    const creds = JSON.parse(boot.stdout());
    const one = run(["serve", "--port", "0", "--data", tempDir(), "--log-level", "warn"], env);
    const two = run(["serve", "--port", "0", "--data", tempDir(), "--log-level", "warn"], env);
    const [url1, url2] = await Promise.all([listeningUrl(one), listeningUrl(two)]);

    const grant = await call(url1, "POST", "/auth/v1/token", undefined, {
      grant_type: "client_credentials",
      client_id: creds.clientId,
      client_secret: creds.clientSecret,
      scope: "integrator.admin",
    });
    expect(grant.status).toBe(200);
    const token = grant.body.access_token;
    // A token from one process works on the other; so does everything written through either.
    const lh = await call(url2, "POST", "/integrators/v1/lock-holders", token, { name: "Two processes" });
    expect(lh.status).toBe(201);
    const base = `/integrators/v1/lock-holders/${lh.body.id}`;
    expect((await call(url1, "GET", base, token)).status).toBe(200);
    expect(
      (await call(url1, "POST", `${base}/vendor-connections`, token, { vendor: "virtual", locksToCreate: 2 })).status,
    ).toBe(201);
    const locks = (await call(url2, "GET", `${base}/locks`, token)).body.locks as { id: string }[];
    expect(locks).toHaveLength(2);
    const batch = await call(url2, "POST", `${base}/keys/batch`, token, {
      keys: Array.from({ length: 30 }, (_, i) => ({
        lockId: locks[i % 2]!.id,
        userId: `+47912${String(i).padStart(5, "0")}`,
        durationMinutes: 30,
      })),
    });
    expect(batch.status).toBe(202);
    const job = await until("the batch job", async () => {
      const j = await call(url1, "GET", `/integrators/v1/jobs/${batch.body.jobId}`, token);
      return j.body.status === "succeeded" && j.body;
    });
    expect(job.done).toBe(30);
    expect(new Set(job.results.map((r: { keyId: string }) => r.keyId)).size).toBe(30);

    const stranger = run(
      ["serve", "--port", "0", "--data", tempDir()],
      cleanEnv({ DATABASE_URL: schema.url, LATCHKEY_MASTER_KEY: "cd".repeat(32) }),
    );
    expect(await stranger.exit).toBe(1);
    expect(stranger.stderr()).toContain("LATCHKEY_MASTER_KEY");
    expect(stranger.stderr()).not.toMatch(/\n\s+at /);

    one.child.kill("SIGTERM");
    two.child.kill("SIGTERM");
    expect(await one.exit).toBe(0);
    expect(await two.exit).toBe(0);
  });
});
