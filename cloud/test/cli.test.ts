import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "./helpers.js";

// Spawns the built bin (run `npx tsc -b cloud` first, as `npm test` does).
const BIN = fileURLToPath(new URL("../bin/latchkey-cloud.js", import.meta.url));

const dirs: string[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-cloud-cli-"));
  dirs.push(dir);
  return dir;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const name of ["DATABASE_URL", "LATCHKEY_PORT", "LATCHKEY_DATA", "LATCHKEY_LOG_LEVEL", "LATCHKEY_MASTER_KEY"]) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], env = cleanEnv()): Run {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (c) => {
    out += c;
  });
  child.stderr!.on("data", (c) => {
    err += c;
  });
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

describe("latchkey-cloud CLI", () => {
  it("bootstrap --json, then serve: a real token, lock holder and key over HTTP; SIGTERM exits cleanly", async () => {
    const data = tempDir();
    const boot = run(["bootstrap", "--data", data, "--json"]);
    expect(await boot.exit).toBe(0);
    const creds = JSON.parse(boot.stdout());
    expect(Object.keys(creds).sort()).toEqual(["clientId", "clientSecret", "integratorId"]);

    const server = run(["serve", "--port", "0", "--data", data, "--log-level", "warn"]);
    const url = await until(
      () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stderr())?.[1],
      "the server to listen",
      20_000,
    );
    const token = await fetch(`${url}/auth/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        grant_type: "client_credentials",
        client_id: creds.clientId,
        client_secret: creds.clientSecret,
        scope: "integrator.admin",
      }),
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const auth = { authorization: `Bearer ${token.access_token}`, "content-type": "application/json" };
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

  it("bad flags and settings: a message naming the flag, exit 2", async () => {
    const cases: [string[], NodeJS.ProcessEnv, string][] = [
      [["serve", "--port", "http"], cleanEnv(), "--port"],
      [["serve", "--port", "70000"], cleanEnv(), "--port"],
      [["serve", "--bogus"], cleanEnv(), "--bogus"],
      [["serve", "--log-level", "loud"], cleanEnv(), "--log-level"],
      [["serve", "--data", tempDir()], cleanEnv({ LATCHKEY_PORT: "abc" }), "LATCHKEY_PORT"],
      [["bootstrap", "--now"], cleanEnv(), "--now"],
    ];
    for (const [args, env, flag] of cases) {
      const r = run(args, env);
      expect(await r.exit, args.join(" ")).toBe(2);
      expect(r.stderr(), args.join(" ")).toContain(flag);
      expect(r.stderr()).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it("DATABASE_URL without a PostgreSQL store is refused with a clear message", async () => {
    const r = run(
      ["bootstrap", "--data", tempDir(), "--json"],
      cleanEnv({ DATABASE_URL: "postgres://127.0.0.1:1/none" }),
    );
    expect(await r.exit).toBe(1);
    expect(r.stderr()).toContain("DATABASE_URL");
    expect(r.stderr()).not.toMatch(/\n\s+at /);
  });

  it("LATCHKEY_DATA and LATCHKEY_PORT configure serve", async () => {
    const data = tempDir();
    const server = run(["--log-level", "silent"], cleanEnv({ LATCHKEY_DATA: data, LATCHKEY_PORT: "0" }));
    const url = await until(
      () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stderr())?.[1],
      "the server to listen",
      20_000,
    );
    expect((await fetch(`${url}/health`)).status).toBe(200);
    server.child.kill("SIGINT");
    expect(await server.exit).toBe(0);
  });
});
