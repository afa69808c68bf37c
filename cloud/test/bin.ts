import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { until } from "./helpers.js";

/** Spawning the built latchkey-cloud bin (run `npx tsc -b cloud` first, as `npm test` does). */
const BIN = fileURLToPath(new URL("../bin/latchkey-cloud.js", import.meta.url));

const dirs: string[] = [];
const children: ChildProcess[] = [];

/** Kills what is still running (waiting until it has exited) and removes temp dirs: call in afterEach. */
export async function cleanUpBins(): Promise<void> {
  const exits = children.splice(0).map((child) => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const exited = new Promise((resolve) => child.once("close", resolve));
    child.kill("SIGKILL");
    return exited;
  });
  await Promise.all(exits);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-cloud-cli-"));
  dirs.push(dir);
  return dir;
}

/**
 * This process's environment without the cloud's settings, plus `extra`. `serve` must be told where one-time codes
 * go: these tests ask for the development log sender (LATCHKEY_DEV_OTP_LOG=1) unless `extra` says otherwise
 * (`LATCHKEY_DEV_OTP_LOG: ""` for none).
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LATCHKEY_DEV_OTP_LOG: "1", ...extra };
  for (const name of [
    "DATABASE_URL",
    "DATABASE_POOL_MAX",
    "LATCHKEY_PORT",
    "LATCHKEY_DATA",
    "LATCHKEY_LOG_LEVEL",
    "LATCHKEY_MASTER_KEY",
    "LATCHKEY_ALLOW_PRIVATE_WEBHOOKS",
    "LATCHKEY_BATCH_CHUNK_KEYS",
    "LATCHKEY_MAX_TOKEN_LIFETIME_SECONDS",
    "LATCHKEY_OTP_WEBHOOK",
    "LATCHKEY_OTP_WEBHOOK_SECRET",
  ]) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

export interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

export function run(args: string[], env = cleanEnv()): Run {
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

/** An integrator.admin access token from the cloud at `url`, for credentials `bootstrap --json` printed. */
export async function integratorToken(url: string, creds: { clientId: string; clientSecret: string }): Promise<string> {
  const res = await fetch(`${url}/auth/v1/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      grant_type: "client_credentials",
      client_id: creds.clientId,
      client_secret: creds.clientSecret,
      scope: "integrator.admin",
    }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** The URL a `serve` prints once it listens. */
export function listeningUrl(server: Run): Promise<string> {
  return until(
    "the server to listen",
    () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stderr())?.[1],
    20_000,
  );
}
