import { chmodSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCloudCli } from "../src/cli/main.js";
import { cleanEnv, cleanUpBins, integratorToken, listeningUrl, run, tempDir } from "./bin.js";
import { until } from "./helpers.js";
import {
  createTestSchema,
  inSchema,
  SUITE_ON_POSTGRES,
  DATABASE_URL as TEST_DATABASE_URL,
  type TestSchema,
} from "./postgres.js";

const schemas: TestSchema[] = [];

afterEach(async () => {
  await cleanUpBins();
  for (const schema of schemas.splice(0)) await schema.drop();
});

/** The store the suite runs on, as the bin sees it: nothing for SQLite, DATABASE_URL of a fresh schema otherwise. */
async function storeEnv(): Promise<{ env: Record<string, string>; schema?: TestSchema }> {
  if (!SUITE_ON_POSTGRES || !TEST_DATABASE_URL) return { env: {} };
  const schema = await createTestSchema();
  schemas.push(schema);
  return { env: { DATABASE_URL: schema.url }, schema };
}

describe("latchkey-cloud CLI", () => {
  it("bootstrap --json, then serve: a real token, lock holder and key over HTTP; SIGTERM exits cleanly", async () => {
    const data = tempDir();
    const store = await storeEnv();
    const boot = run(["bootstrap", "--data", data, "--json"], cleanEnv(store.env));
    expect(await boot.exit, boot.stderr()).toBe(0);
    const creds = JSON.parse(boot.stdout());
    expect(Object.keys(creds).sort()).toEqual(["clientId", "clientSecret", "integratorId"]);

    if (store.schema) {
      const integrators = await inSchema(store.schema.schema, (c) => c.query("SELECT id FROM integrators"));
      expect(integrators.rows).toEqual([{ id: creds.integratorId }]);
    }

    const server = run(["serve", "--port", "0", "--data", data, "--log-level", "warn"], cleanEnv(store.env));
    const url = await listeningUrl(server);
    const auth = { authorization: `Bearer ${await integratorToken(url, creds)}`, "content-type": "application/json" };
    const lockHolder = await fetch(`${url}/integrators/v1/lock-holders`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: "CLI" }),
    });
    expect(lockHolder.status).toBe(201);
    const docs = await fetch(`${url}/docs/json`);
    expect(docs.status).toBe(200);
    server.child.kill("SIGTERM");
    expect(await server.exit).toBe(0);
    expect(server.stdout() + server.stderr()).not.toContain(creds.clientSecret);
  });

  // Usage checks run the CLI in this process (the bin is a two-line shim around runCloudCli); one spawn shows the
  // bin exits with the same code.
  const inProcess = async (args: string[], env: Record<string, string> = {}) => {
    let out = "";
    let err = "";
    const code = await runCloudCli(args, { out: (t) => (out += t), err: (t) => (err += t), env });
    return { code, out, err };
  };

  it("bad flags and settings: a message naming the flag, exit 2", async () => {
    const spawned = run(["serve", "--port", "http"]);
    expect(await spawned.exit).toBe(2);
    expect(spawned.stderr()).toContain("--port");
    const cases: [string[], Record<string, string>, string][] = [
      [["serve", "--port", "70000"], {}, "--port"],
      [["serve", "--bogus"], {}, "--bogus"],
      [["serve", "--log-level", "loud"], {}, "--log-level"],
      [["serve", "--data", tempDir()], { LATCHKEY_PORT: "abc" }, "LATCHKEY_PORT"],
      [["serve", "--data", tempDir()], { LATCHKEY_LOG_LEVEL: "loud" }, "LATCHKEY_LOG_LEVEL"],
      [["bootstrap", "--now"], {}, "--now"],
      [["serve", "--max-token-lifetime", "60"], {}, "--max-token-lifetime"],
      [["serve", "--max-token-lifetime", "1e6"], {}, "--max-token-lifetime"],
      [
        ["serve", "--data", tempDir()],
        { LATCHKEY_MAX_TOKEN_LIFETIME_SECONDS: "forever" },
        "LATCHKEY_MAX_TOKEN_LIFETIME_SECONDS",
      ],
      [["serve", "--data", tempDir()], { LATCHKEY_BATCH_JOB_LEASE_SECONDS: "0" }, "LATCHKEY_BATCH_JOB_LEASE_SECONDS"],
      [["serve", "--metrics-port", "99999"], {}, "--metrics-port"],
      [["serve", "--metrics-port", "metrics"], {}, "--metrics-port"],
      [["serve", "--metrics-port", "-1"], {}, "--metrics-port"],
      // Never the public API's port: the flag named, and the port.
      [["serve", "--data", tempDir(), "--port", "18080", "--metrics-port", "18080"], {}, "--metrics-port 18080"],
      [["serve", "--data", tempDir(), "--metrics-port", "18081"], { LATCHKEY_PORT: "18081" }, "--metrics-port 18081"],
      [["serve", "--data", tempDir(), "--metrics-host", "0.0.0.0"], {}, "--metrics-host needs --metrics-port"],
    ];
    for (const [args, env, flag] of cases) {
      const r = await inProcess(args, env);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toContain(flag);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it("serve needs a one-time-code sender: --otp-webhook (with its secret) or --dev-otp-log, else exit 2 naming them", async () => {
    const secret = `whsec_${Buffer.from("cli test otp webhook secret 0123").toString("base64")}`;
    const cases: [string[], Record<string, string>, string[]][] = [
      [[], {}, ["--otp-webhook", "--dev-otp-log", "LATCHKEY_DEV_OTP_LOG"]],
      [[], { LATCHKEY_DEV_OTP_LOG: "0" }, ["--dev-otp-log"]],
      [[], { LATCHKEY_DEV_OTP_LOG: "yes" }, ["LATCHKEY_DEV_OTP_LOG"]],
      [["--otp-webhook", "https://sms.example.com/"], {}, ["LATCHKEY_OTP_WEBHOOK_SECRET"]],
      [[], { LATCHKEY_OTP_WEBHOOK: "https://sms.example.com/" }, ["LATCHKEY_OTP_WEBHOOK_SECRET"]],
      [
        ["--otp-webhook", "https://sms.example.com/", "--dev-otp-log"],
        { LATCHKEY_OTP_WEBHOOK_SECRET: secret },
        ["choose one"],
      ],
      [["--otp-webhook", "http://127.0.0.1:9/"], { LATCHKEY_OTP_WEBHOOK_SECRET: secret }, ["own network"]],
      [["--otp-webhook", "not a url"], { LATCHKEY_OTP_WEBHOOK_SECRET: secret }, ["absolute URL"]],
      [["--otp-webhook", "https://sms.example.com/"], { LATCHKEY_OTP_WEBHOOK_SECRET: "hunter2" }, ["secret"]],
    ];
    for (const [args, env, names] of cases) {
      const r = await inProcess(["serve", "--port", "0", "--data", tempDir(), ...args], env);
      expect(r.code, `${args.join(" ")} ${JSON.stringify(env)}`).toBe(2);
      for (const name of names) expect(r.err, `${args.join(" ")} ${JSON.stringify(env)}`).toContain(name);
      expect(r.err).not.toMatch(/\n\s+at /);
      expect(r.err).not.toContain("hunter2");
    }
  });

  it("bootstrap narrows a data directory or database file wider than 0700/0600, and says so (review 12.2)", async () => {
    const data = tempDir();
    const first = await inProcess(["bootstrap", "--data", data, "--json"], {});
    expect(first.code).toBe(0);
    expect(first.err).toBe("");
    chmodSync(data, 0o755);
    chmodSync(join(data, "cloud.sqlite"), 0o644);
    const again = await inProcess(["bootstrap", "--data", data, "--json"], {});
    expect(again.code).toBe(0);
    expect(again.err).toContain(`narrowed the mode of ${data} from 0755 to 0700`);
    expect(again.err).toContain(`narrowed the mode of ${join(data, "cloud.sqlite")} from 0644 to 0600`);
    expect(statSync(data).mode & 0o777).toBe(0o700);
    expect(statSync(join(data, "cloud.sqlite")).mode & 0o777).toBe(0o600);
  });

  it("DATABASE_URL that is not a PostgreSQL URL, or a bad DATABASE_POOL_MAX: exit 2 naming it", async () => {
    const cases: [Record<string, string>, string][] = [
      [{ DATABASE_URL: "mysql://127.0.0.1/db" }, "DATABASE_URL"],
      [{ DATABASE_URL: "not a url" }, "DATABASE_URL"],
      [{ DATABASE_URL: "postgres://127.0.0.1/db", DATABASE_POOL_MAX: "0" }, "DATABASE_POOL_MAX"],
      [{ DATABASE_URL: "postgres://127.0.0.1/db", DATABASE_POOL_MAX: "many" }, "DATABASE_POOL_MAX"],
    ];
    for (const [env, name] of cases) {
      for (const command of ["serve", "bootstrap"]) {
        const r = await inProcess([command, "--data", tempDir()], env);
        expect(r.code, `${command} ${JSON.stringify(env)}`).toBe(2);
        expect(r.err).toContain(name);
        expect(r.err).not.toMatch(/\n\s+at /);
      }
    }
  });

  it("an unreachable DATABASE_URL: exit 1 naming it and the database, never its password", async () => {
    for (const args of [["serve", "--port", "0", "--dev-otp-log"], ["bootstrap"]]) {
      const r = await inProcess([...args, "--data", tempDir()], {
        DATABASE_URL: "postgres://alice:hunter2@127.0.0.1:1/none",
      });
      expect(r.code, args[0]).toBe(1);
      expect(r.err).toContain("DATABASE_URL");
      expect(r.err).toContain("alice@127.0.0.1:1/none");
      expect(r.err + r.out).not.toContain("hunter2");
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });

  it("serve --metrics-port: Prometheus metrics on a listener of their own, not on the API's port", async () => {
    const server = run(
      ["serve", "--port", "0", "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--data", tempDir()],
      cleanEnv({ LATCHKEY_LOG_LEVEL: "warn" }),
    );
    const url = await listeningUrl(server);
    const metricsUrl = await until(
      "the metrics listener",
      () => /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(server.stderr())?.[1],
    );
    expect(new URL(metricsUrl).port).not.toBe(new URL(url).port);
    const metrics = await fetch(`${metricsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('latchkey_cloud_reports_total{verdict="forged"} 0');
    expect(text).toContain("latchkey_cloud_process_resident_memory_bytes");
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
    server.child.kill("SIGTERM");
    expect(await server.exit).toBe(0);
  });

  it("LATCHKEY_DATA and LATCHKEY_PORT configure serve", async () => {
    const data = tempDir();
    const server = run(["--log-level", "silent"], cleanEnv({ LATCHKEY_DATA: data, LATCHKEY_PORT: "0" }));
    const url = await listeningUrl(server);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    server.child.kill("SIGINT");
    expect(await server.exit).toBe(0);
  });
});
