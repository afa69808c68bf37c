import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { deriveLockPassword } from "@latchkey/protocol";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { BRIDGE_NODE_FLAGS } from "../src/runtime.js";
import { testConfig } from "./helpers/bridge.js";
import { SITE_SECRET, tempDir } from "./helpers/fixtures.js";
import { TestCloud } from "./helpers/test-cloud.js";
import { waitFor } from "./helpers/wait.js";

const BIN = fileURLToPath(new URL("../bin/latchkey-bridge.js", import.meta.url));
const run = promisify(execFile);

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("latchkey-bridge command line", () => {
  let dir: ReturnType<typeof tempDir>;
  beforeAll(() => {
    if (!existsSync(fileURLToPath(new URL("../dist/src/cli/main.js", import.meta.url))))
      throw new Error("bridge is not built: run `npx tsc -b bridge` before these tests");
  });
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.remove());

  it("runs node with the bridge's memory flags (the benchmark spawns it the same way)", () => {
    const shebang = readFileSync(BIN, "utf8").split("\n")[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${BRIDGE_NODE_FLAGS.join(" ")}`);
  });

  it("starts through its shebang: node accepts every one of the bridge's flags (an unknown one exits 9)", async () => {
    // As the systemd unit and `npx latchkey-bridge` run it: the kernel runs env, env runs node with the flags.
    const { stdout } = await run(BIN, ["--help"], { env: { PATH: process.env.PATH } });
    expect(stdout).toContain("lock-credentials");
  });

  it("--help lists the commands and every environment override", async () => {
    const { code, stdout } = await cli(["--help"]);
    expect(code).toBe(0);
    for (const text of [
      "init",
      "lock-credentials",
      "check",
      "--config",
      "LATCHKEY_BRIDGE_MQTT_SITE_SECRET",
      "LATCHKEY_BRIDGE_CONFIG",
    ])
      expect(stdout).toContain(text);
  });

  it("init writes a private starter file and does not overwrite one", async () => {
    const out = join(dir.path, "bridge.yaml");
    expect((await cli(["init", "--out", out, "--bridge-id", "br_1", "--bridge-secret", "s3cret-value"])).code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out, "utf8")).toContain("bridgeId: br_1");
    const again = await cli(["init", "--out", out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--out: .* exists \(use --force to overwrite\)/);
    expect((await cli(["check", "--config", out])).stdout).toMatch(/br_1: configuration ok/);
  });

  it("lock-credentials prints the passwords derived from the site secret", async () => {
    const config = join(dir.path, "bridge.yaml");
    writeFileSync(
      config,
      stringify({
        cloud: { url: "http://127.0.0.1:1", bridgeId: "br_1", secret: "s3cret-value" },
        mqtt: { siteSecret: SITE_SECRET },
      }),
    );
    const { code, stdout } = await cli(["lock-credentials", "--config", config, "--json", "lock-1", "lock-2"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      { lockId: "lock-1", username: "lock-1", password: deriveLockPassword(SITE_SECRET, "lock-1") },
      { lockId: "lock-2", username: "lock-2", password: deriveLockPassword(SITE_SECRET, "lock-2") },
    ]);
    const bad = await cli(["lock-credentials", "--config", config, "no/slashes"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('<lockId>: "no/slashes" is not a valid lock id');
  });

  it("exits 2 naming the bad key or flag", async () => {
    const config = join(dir.path, "bridge.yaml");
    writeFileSync(
      config,
      "cloud:\n  url: http://127.0.0.1:1\n  bridgeId: br_1\n  secret: s3cret-value\nmqtt:\n  siteSecret: short\n  port: nope\n",
    );
    const checked = await cli(["check", "--config", config]);
    expect(checked.code).toBe(2);
    expect(checked.stderr).toContain("mqtt.port: must be an integer");
    expect(checked.stderr).toContain("mqtt.siteSecret: must be at least 16 characters");
    expect(checked.stderr).not.toContain("short");
    const env = await cli(["check", "--config", config], { LATCHKEY_BRIDGE_MQTT_PORT: "x" });
    expect(env.stderr).toContain("LATCHKEY_BRIDGE_MQTT_PORT: must be an integer");
    const missing = await cli([]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--config <file> is required (or set LATCHKEY_BRIDGE_CONFIG)");
    expect((await cli(["--bogus"])).code).toBe(2);
  });

  describe("running", () => {
    let cloud: TestCloud;
    let child: ChildProcess | null = null;
    beforeEach(async () => {
      cloud = new TestCloud();
      await cloud.start();
    });
    afterEach(async () => {
      if (child && child.exitCode === null) child.kill("SIGKILL");
      await cloud.stop();
    });

    it("runs from a config file, logs where it listens, and exits 0 on SIGTERM", async () => {
      const config = join(dir.path, "bridge.yaml");
      writeFileSync(config, stringify(testConfig(cloud, "./data", { log: { level: "info" } })));
      const proc = spawn(process.execPath, [BIN, "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
      child = proc;
      const lines: Array<Record<string, unknown>> = [];
      let buffer = "";
      proc.stdout!.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        const parts = buffer.split("\n");
        buffer = parts.pop() ?? "";
        for (const p of parts) lines.push(JSON.parse(p) as Record<string, unknown>);
      });
      const started = await waitFor("started", () => lines.find((l) => l.msg === "bridge started"));
      expect(started.mqttUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
      expect(started.dataDir).toBe(join(dir.path, "data"));
      await waitFor("ready", () => lines.some((l) => l.msg === "bridge ready"));
      const health = await fetch(`${started.metricsUrl}/healthz`);
      expect(health.status).toBe(200);
      const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(lines.some((l) => l.msg === "bridge stopped")).toBe(true);
    });

    it("a SIGTERM while it is still starting stops it gracefully once started (exit 0), not Node's default death", async () => {
      const config = join(dir.path, "bridge.yaml");
      writeFileSync(config, stringify(testConfig(cloud, "./data", { log: { level: "info" } })));
      const proc = spawn(process.execPath, [BIN, "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
      child = proc;
      const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
      let out = "";
      // "bridge started" is logged before startup has finished: the earliest a supervisor could act on it.
      await new Promise<void>((resolve) =>
        proc.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('"bridge started"')) resolve();
        }),
      );
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(out).toContain('"bridge stopped"');
    });
  });
});
