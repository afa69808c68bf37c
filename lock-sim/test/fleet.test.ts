import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { encodeCommand } from "@latchkey/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fleetLockIds, runLockSimCli, startFleet } from "../src/index.js";
import { startTestBroker, type TestBroker } from "./helpers/broker.js";
import { Observer } from "./helpers/observer.js";
import { TempDirs } from "./helpers/tmp.js";
import { until } from "./helpers/until.js";

const SITE_SECRET = "site-secret-for-tests-0123456789";
const BIN = fileURLToPath(new URL("../bin/latchkey-lock-sim.js", import.meta.url));
const DIST = fileURLToPath(new URL("../dist/src/cli/lock-sim.js", import.meta.url));

describe("fleet mode", () => {
  const tmp = new TempDirs();
  let broker: TestBroker;
  let observer: Observer;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    broker = await startTestBroker({ siteSecret: SITE_SECRET });
    observer = await Observer.connect(broker.url);
  });

  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill("SIGKILL");
        await new Promise((r) => c.once("exit", r));
      }
    }
    await observer.close();
    await broker.close();
    tmp.cleanup();
  });

  it("ids are zero-padded to at least 3 digits", () => {
    expect(fleetLockIds(3)).toEqual(["sim-lock-001", "sim-lock-002", "sim-lock-003"]);
    expect(fleetLockIds(2, "x-", 999)).toEqual(["x-0999", "x-1000"]);
  });

  it("startFleet runs N locks on one broker and one flash file; stop publishes offline for each", async () => {
    const dir = tmp.make();
    const fleet = await startFleet({
      count: 5,
      mqttUrl: broker.url,
      siteSecret: SITE_SECRET,
      dataDir: dir,
      connectRatePerSecond: 500,
    });
    try {
      await fleet.whenOnline(10_000);
      expect(fleet.online).toBe(5);
      for (const id of fleet.ids) await observer.waitForStatus(id, "online");
      await until(() => new Set(observer.telemetry.map((t) => t.lock)).size === 5, "telemetry from every lock");
      expect(new Set(fleet.locks.map((l) => l.flashPath)).size).toBe(1);
    } finally {
      await fleet.stop();
    }
    for (const id of fleet.ids) await observer.waitForStatus(id, "offline");
    expect(broker.violations).toEqual([]);
  });

  it("usage errors name the flag and exit 2 without touching anything", async () => {
    const run = async (...argv: string[]) => {
      const err: string[] = [];
      const log = new PassThrough().resume();
      const code = await runLockSimCli(argv, { out: () => {}, err: (s) => err.push(s), log }, new EventEmitter());
      return { code, err: err.join("\n") };
    };
    expect(await run()).toMatchObject({ code: 2, err: expect.stringMatching(/--count/) });
    expect(await run("--count", "abc", "--mqtt", broker.url)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--count must be a whole number/),
    });
    expect(await run("--count", "2", "--mqtt", "nope")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--mqtt: "nope" is not a URL/),
    });
    expect(await run("--count", "2", "--mqtt", "http://x")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--mqtt: protocol http:/),
    });
    expect(await run("--count", "2", "--mqtt", broker.url, "--site-secret", "short")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--site-secret must be at least 16 bytes/),
    });
    const file = join(tmp.make(), "pw.txt");
    writeFileSync(file, "sim-lock-001 pw1\n");
    expect(
      await run("--count", "1", "--mqtt", broker.url, "--site-secret", SITE_SECRET, "--password-file", file),
    ).toMatchObject({ code: 2, err: expect.stringMatching(/not both/) });
    expect(await run("--count", "1", "--mqtt", broker.url, "--password-file", "/nonexistent/pw")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--password-file: cannot read/),
    });
    expect(
      await run("--count", "2", "--mqtt", broker.url, "--password-file", file, "--data", tmp.make()),
    ).toMatchObject({ code: 2, err: expect.stringMatching(/no password for sim-lock-002/) });
    expect(await run("--count", "1", "--mqtt", broker.url, "--trust", "zz=11")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--trust must be/),
    });
    expect(await run("--count", "1", "--mqtt", broker.url, "--telemetry-interval", "-5")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--telemetry-interval/),
    });
    expect(await run("--count", "1", "--mqtt", broker.url, "--prefix", "bad/prefix-")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/prefix/),
    });
  });

  describe("the latchkey-lock-sim process", () => {
    beforeEach(() => {
      if (!existsSync(DIST)) throw new Error("lock-sim is not built: run `npx tsc -b lock-sim` before this test");
    });

    function spawnSim(args: string[]): { child: ChildProcess; ids: string[]; stderr: string[] } {
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      children.push(child);
      const ids: string[] = [];
      const stderr: string[] = [];
      let buffered = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        ids.push(...lines.filter((l) => l.length > 0));
      });
      child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
      return { child, ids, stderr };
    }

    const exited = (child: ChildProcess) =>
      new Promise<number | null>((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once("exit", (code) => resolve(code));
      });

    it("prints its lock ids, connects them, and stops cleanly on SIGTERM", async () => {
      const dir = tmp.make();
      const sim = spawnSim([
        "--count",
        "3",
        "--mqtt",
        broker.url,
        "--site-secret",
        SITE_SECRET,
        "--data",
        dir,
        "--prefix",
        "cli-",
        "--connect-rate",
        "1000",
      ]);
      await until(() => sim.ids.length === 3, "three ids on stdout");
      expect(sim.ids).toEqual(["cli-001", "cli-002", "cli-003"]);
      for (const id of sim.ids) await observer.waitForStatus(id, "online");
      sim.child.kill("SIGTERM");
      expect(await exited(sim.child)).toBe(0);
      for (const id of sim.ids) expect(observer.status.get(id)).toBe("offline");
      // a clean stop says goodbye itself: retained offline from the lock, not the will
      expect(sim.stderr.join("")).not.toMatch(/password|site-secret-for-tests/);
    });

    it("killed with SIGKILL, it keeps its flash: on restart the seq continues and unsent events are replayed", async () => {
      const dir = tmp.make();
      const args = [
        "--count",
        "1",
        "--mqtt",
        broker.url,
        "--site-secret",
        SITE_SECRET,
        "--data",
        dir,
        "--prefix",
        "kill-",
      ];
      const first = spawnSim(args);
      await observer.waitForStatus("kill-001", "online");
      broker.holdAcks = true;
      const junk = (id: string) =>
        encodeCommand({
          id,
          type: "unlock",
          token: new Uint8Array([1]),
          proof: new Uint8Array(64),
          nonce: new Uint8Array(16),
        });
      await observer.commandRaw("kill-001", junk("j1"), "j1");
      await observer.commandRaw("kill-001", junk("j2"), "j2");
      await until(() => broker.published.some((p) => p.topic.endsWith("kill-001/events")), "an event at the broker");
      first.child.kill("SIGKILL");
      await exited(first.child);
      await observer.waitForStatus("kill-001", "offline"); // the last will
      broker.holdAcks = false;
      broker.releaseAcks();

      const second = spawnSim(args);
      await observer.waitForEvent("kill-001", (e) => e.seq === 2, "the replayed second event");
      await observer.commandRaw("kill-001", junk("j3"), "j3");
      await observer.waitForEvent("kill-001", (e) => e.seq === 3, "a new event");
      expect([...new Set(observer.events.map((e) => e.seq))].sort()).toEqual([1, 2, 3]);
      second.child.kill("SIGINT");
      expect(await exited(second.child)).toBe(0);
    });
  });
});
