import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { encodeCommand } from "@latchkey/protocol";
import { pollUntil } from "@latchkey/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FleetOptions, FleetOptionsError, fleetLockIds, runLockSimCli, startFleet } from "../src/index.js";
import { startTestBroker, type TestBroker } from "./helpers/broker.js";
import { TestCloud } from "./helpers/cloud.js";
import { makeIssuer } from "./helpers/keys.js";
import { Observer } from "./helpers/observer.js";
import { TempDirs } from "./helpers/tmp.js";

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
      await pollUntil("the keys of every lock", () => fleet.ids.every((id) => observer.keys.has(id)), {
        intervalMs: 5,
      });
      expect(new Set(fleet.locks.map((l) => l.flashPath)).size).toBe(1);
    } finally {
      await fleet.stop();
    }
    for (const id of fleet.ids) await observer.waitForStatus(id, "offline");
    expect(broker.violations).toEqual([]);
  });

  it("startFleet refuses the removed factory trust by name", async () => {
    const options = { count: 1, mqttUrl: broker.url, dataDir: tmp.make(), trust: [] } as FleetOptions;
    await expect(startFleet(options)).rejects.toThrow(FleetOptionsError);
    await expect(startFleet(options)).rejects.toThrow(/fleet option trust: was removed/);
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
      err: expect.stringMatching(/--count: must be an integer \(got "abc"\)/),
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
    // The unsigned era's factory keys: named as removed, with what replaced them.
    expect(await run("--count", "1", "--mqtt", broker.url, "--trust", "00=11")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--trust was removed: .*signed state/),
    });
    expect(await run("--count", "1", "--mqtt", broker.url, "--bogus")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/unknown option '--bogus'/),
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
      await pollUntil("three ids on stdout", () => sim.ids.length === 3, { intervalMs: 5 });
      expect(sim.ids).toEqual(["cli-001", "cli-002", "cli-003"]);
      for (const id of sim.ids) await observer.waitForStatus(id, "online");
      sim.child.kill("SIGTERM");
      expect(await exited(sim.child)).toBe(0);
      for (const id of sim.ids) expect(observer.status.get(id)).toBe("offline");
      // a clean stop says goodbye itself: retained offline from the lock, not the will
      expect(sim.stderr.join("")).not.toMatch(/password|site-secret-for-tests/);
    });

    it("killed with SIGKILL, it keeps its flash: on restart the seq continues and unsent events go again", async () => {
      const dir = tmp.make();
      const codes: string[] = [];
      const io = { out: (line: string) => codes.push(line), err: () => {} };
      const factory = ["setup-codes", "--count", "1", "--prefix", "kill-", "--data", dir];
      expect(await runLockSimCli(factory, io, new EventEmitter())).toBe(0);
      const setupCode = codes[0]!.split(" ")[1]!;
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
      const keys = await observer.waitFor(() => observer.keys.get("kill-001"), "its keys");
      // The lock holder claims it with its setup code; the bridge relays the state and answers its time requests.
      // The process runs on the system clock, so the cloud's time must move with it.
      const cloud = new TestCloud({ now: () => Date.now() }, makeIssuer("fleet"));
      cloud.enroll({
        id: "kill-001",
        setupCode,
        publicKeys: { identityKey: keys.message.identity, agreementKey: keys.message.x25519 },
      });
      observer.relay(cloud);
      await observer.publishState("kill-001", cloud.state("kill-001"));
      await observer.waitFor(
        () => (cloud.events("kill-001").length === 2 ? true : undefined),
        "state_applied, clock_set",
      );
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
      await pollUntil(
        "an event held at the broker",
        () => broker.published.filter((p) => p.topic.endsWith("kill-001/events")).length >= 3,
        { intervalMs: 5 },
      );
      first.child.kill("SIGKILL");
      await exited(first.child);
      await observer.waitForStatus("kill-001", "offline"); // the last will
      broker.holdAcks = false;
      broker.releaseAcks();

      const second = spawnSim(args);
      await observer.waitFor(() => cloud.events("kill-001").find((e) => e.seq === 4), "the second junk event");
      await observer.commandRaw("kill-001", junk("j3"), "j3");
      await observer.waitFor(() => cloud.events("kill-001").find((e) => e.seq === 5), "a new event");
      expect(cloud.events("kill-001").map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(cloud.verdicts.map((v) => v.verdict)).not.toContain("forged");
      second.child.kill("SIGINT");
      expect(await exited(second.child)).toBe(0);
    });
  });
});
