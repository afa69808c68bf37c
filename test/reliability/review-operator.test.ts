import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { LATCHKEY_BINS } from "@latchkey/scripts";
import { describe, expect, it } from "vitest";
import { scrape } from "../src/reliability/metrics.js";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { lintExposition } from "../src/reliability/promlint.js";
import { ReliabilitySite } from "../src/reliability/site.js";

/**
 * Issue 15, the gateway operator's first day, through the real processes: the bridge's /metrics as promtool reads it.
 * Needs `tsc -b` first (the bins run from dist/), as `npm test` does.
 */
const file = new ReliabilityFile("review-operator");
const { tally, logs, secrets } = file;
const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));

/** Every bin of every package ("bin" in its package.json), with the package's version. */
const BINS = ["protocol", "cloud", "bridge", "lock-sim", "scripts"].flatMap((workspace) => {
  const pkg = JSON.parse(readFileSync(join(root, workspace, "package.json"), "utf8")) as {
    version: string;
    bin: Record<string, string>;
  };
  return Object.entries(pkg.bin).map(([name, path]) => ({
    name,
    path: join(root, workspace, path),
    version: pkg.version,
  }));
});

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a built bin to its exit; never throws on a non-zero exit. */
async function bin(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const found = BINS.find((b) => b.name === name);
  if (!found) throw new Error(`no bin ${name}`);
  const dir = file.resources.tempDir("latchkey-cli-");
  try {
    const r = await run(process.execPath, [found.path, ...args], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "1", ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof err.code !== "number") throw e;
    return { code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

/** promtool itself when installed (Debian's `prometheus` package); the lint rules above do not depend on it. */
async function promtool(text: string): Promise<{ code: number; output: string } | null> {
  try {
    await run("promtool", ["--version"]);
  } catch {
    return null;
  }
  return new Promise((resolve) => {
    const child = execFile("promtool", ["check", "metrics"], (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
    );
    child.stdin?.end(text);
  });
}

describe("issue 15.8: the bridge's /metrics passes promtool's rules", () => {
  it("every family of a running bridge process has HELP and TYPE, counters and only counters end in _total", async () => {
    tally.case("review 15.8: a metric name promtool check metrics refuses (gauges ending in _total)");
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "operator-metrics" });
    const bridge = await site.startBridgeProcess();
    await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    const text = await scrape(site.metricsUrl);
    tally.input();
    expect(text).toContain("# TYPE latchkey_bridge_outbox_items gauge");
    expect(lintExposition(text)).toEqual([]);
    const checked = await promtool(text);
    if (checked) expect(checked, checked.output).toMatchObject({ code: 0 });
  });
});

describe("issue 15.10: every CLI as an operator types it", () => {
  it("has the six bins the packages declare", () => {
    expect(BINS.map((b) => b.name).sort()).toEqual([...LATCHKEY_BINS]);
  });

  it("--version prints the package version and exits 0, for every bin", async () => {
    tally.case("review 15.10: a bin without --version");
    for (const b of BINS) {
      const r = await bin(b.name, ["--version"]);
      tally.input();
      expect({ bin: b.name, code: r.code, out: r.stdout.trim() }).toEqual({ bin: b.name, code: 0, out: b.version });
    }
  });

  it("an unknown flag is named, not a required option, and exits 2, for every bin", async () => {
    tally.case("review 15.10: an unknown option reported as a missing required option");
    for (const b of BINS) {
      const r = await bin(b.name, ["--bogus"]);
      tally.input();
      tally.refuse();
      expect({ bin: b.name, code: r.code }).toEqual({ bin: b.name, code: 2 });
      expect(r.stderr, b.name).toContain("unknown option '--bogus'");
      expect(r.stderr, b.name).not.toMatch(/required option/);
    }
    // A subcommand with required flags too.
    for (const args of [
      ["sign", "--bogus"],
      ["verify", "x", "--bogus"],
    ]) {
      const r = await bin("latchkey-token", args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("unknown option '--bogus'");
    }
    const factory = await bin("latchkey-lock-sim", ["setup-codes", "--bogus"]);
    expect(factory.stderr).toContain("unknown option '--bogus'");
  });

  it("commands and subcommands that need arguments print their usage when given none", async () => {
    tally.case("review 15.10: a command without arguments answering with its first missing flag");
    for (const [name, args] of [
      ["latchkey-token", []],
      ["latchkey-token", ["sign"]],
      ["latchkey-token", ["verify"]],
      ["latchkey-lock-sim", []],
      ["latchkey-lock-sim", ["setup-codes"]],
      ["latchkey-lock-sim", ["factory-reset"]],
      ["latchkey-mosquitto-acl", []],
    ] as [string, string[]][]) {
      const r = await bin(name, args);
      tally.input();
      expect({ name, args, code: r.code }).toEqual({ name, args, code: 2 });
      expect(r.stderr, `${name} ${args.join(" ")}`).toMatch(/^usage: /im);
    }
  });

  it("latchkey-token sign takes the secret from --secret-file or LATCHKEY_TOKEN_SECRET, the same token as --secret", async () => {
    tally.case("review 15.10: a signing secret that can only be given on the command line");
    const dir = file.resources.tempDir("latchkey-token-secret-");
    const issuerKeys = JSON.parse((await bin("latchkey-token", ["keygen"])).stdout) as { secret: string };
    const device = JSON.parse((await bin("latchkey-token", ["keygen"])).stdout) as { public: string };
    secrets.add("test issuer secret", issuerKeys.secret);
    const claims = join(dir, "claims.json");
    writeFileSync(
      claims,
      JSON.stringify({
        iss: "operator-test",
        sub: "+4791234567",
        aud: "lock-1",
        nbf: 1_800_000_000,
        iat: 1_800_000_000,
        exp: 1_800_003_600,
        cti: "00112233445566778899aabbccddeeff",
        cnf: device.public,
      }),
    );
    const secretFile = join(dir, "issuer.secret");
    writeFileSync(secretFile, `${issuerKeys.secret}\n`, { mode: 0o600 });
    const common = ["--kid", "01", "--claims", claims];
    const onArgv = await bin("latchkey-token", ["sign", "--secret", issuerKeys.secret, ...common]);
    expect(onArgv.code, onArgv.stderr).toBe(0);
    const fromFile = await bin("latchkey-token", ["sign", "--secret-file", secretFile, ...common]);
    const fromEnv = await bin("latchkey-token", ["sign", ...common], { LATCHKEY_TOKEN_SECRET: issuerKeys.secret });
    tally.input();
    expect(fromFile).toEqual(onArgv);
    expect(fromEnv).toEqual(onArgv);
    const none = await bin("latchkey-token", ["sign", ...common], { LATCHKEY_TOKEN_SECRET: "" });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--secret-file <path>, LATCHKEY_TOKEN_SECRET or --secret <hex>/);
    const missing = await bin("latchkey-token", ["sign", "--secret-file", join(dir, "nope"), ...common]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read");
    tally.refuse();
  });

  it("latchkey-mosquitto-acl takes its secrets from files, never needing them on the command line", async () => {
    tally.case("review 15.10: a site secret or broker password that can only be given on the command line");
    const dir = file.resources.tempDir("latchkey-acl-secrets-");
    writeFileSync(join(dir, "site.secret"), "operator-site-secret-0123456789\n", { mode: 0o600 });
    writeFileSync(join(dir, "bridge.password"), "operator-bridge-password\n", { mode: 0o600 });
    secrets.add("test site secret", "operator-site-secret-0123456789");
    secrets.add("test bridge password", "operator-bridge-password");
    const args = ["--locks", "sim-lock-001", "--bridge-user", "bridge@br_1", "--out", join(dir, "out")];
    const r = await bin(
      "latchkey-mosquitto-acl",
      ["--site-secret-file", join(dir, "site.secret"), "--bridge-password-file", join(dir, "bridge.password"), ...args],
      { LATCHKEY_SITE_SECRET: "", LATCHKEY_BRIDGE_MQTT_PASSWORD: "" },
    );
    tally.input();
    expect(r.code, r.stderr).toBe(0);
    const users = readFileSync(join(dir, "out", "passwords"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(":")[0]);
    expect(users.sort()).toEqual(["bridge@br_1", "sim-lock-001"]);
    const missing = await bin("latchkey-mosquitto-acl", ["--site-secret-file", join(dir, "nope"), ...args]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`cannot read ${join(dir, "nope")}: ENOENT`);
    tally.refuse();
  });

  it('latchkey-lock-sim that never reached its broker exits after "stopped" on SIGTERM, and on SIGINT', async () => {
    tally.case("review 15.10: a lock-sim that hangs after stopping because it never connected");
    const lockSim = BINS.find((b) => b.name === "latchkey-lock-sim")!.path;
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const dir = file.resources.tempDir("latchkey-lock-sim-signal-");
      // Port 9 (discard) on loopback: nothing listens, every connect is refused.
      const child = spawn(process.execPath, [lockSim, "--count", "1", "--mqtt", "mqtt://127.0.0.1:9", "--data", dir], {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe"],
      });
      file.resources.defer("stop the lock-sim", () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      });
      let stderr = "";
      const refused = new Promise<void>((resolve) => {
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString("utf8");
          if (stderr.includes("ECONNREFUSED")) resolve();
        });
      });
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      await refused;
      tally.fault();
      child.kill(signal);
      // One signal only: a hang here is the bug (the test's own timeout ends it).
      expect(await exited).toBe(0);
      expect(stderr).toContain('"msg":"stopped"');
    }
  });
});

describe("issue 15.11: the cloud's errors say what was expected", () => {
  it("an invalid date in the Integrator API answers 400 naming the field and the RFC 3339 format", async () => {
    tally.case("review 15.11: an invalid date answered with the schema's 'Expected union value'");
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "operator-errors" });
    const res = await fetch(
      `${site.cloud.url}/integrators/v1/lock-holders/${site.lockHolderId}/locks/sim-lock-001/keys`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${site.client.accessToken}`, "content-type": "application/json" },
        body: JSON.stringify({ userId: "+4791234567", end: "next week" }),
      },
    );
    tally.input();
    tally.refuse();
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: "invalid_request",
      errorDescription: "body.end: must be an RFC 3339 date-time with offset, e.g. 2026-12-07T10:00:00Z, or null",
    });
  });
});

describe("issue 15.14: the cloud's /docs page", () => {
  it("is titled latchkey and says Authorization: Bearer <token> where the page keeps it", async () => {
    tally.case("review 15.14: a docs page titled 'Swagger UI' whose Bearer <token> renders as 'Bearer '");
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "operator-docs" });
    const page = await fetch(`${site.cloud.url}/docs/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>latchkey cloud API</title>");
    const doc = (await (await fetch(`${site.cloud.url}/docs/json`)).json()) as {
      components: { securitySchemes: { bearer: { description?: string } } };
    };
    tally.input();
    expect(doc.components.securitySchemes.bearer.description).toContain("`Authorization: Bearer <token>`");
  });
});
