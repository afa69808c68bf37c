import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { IntegratorClient, ManagedChild, pollUntil, type StackSummary, workspaceRoot } from "@latchkey/scripts";
import { connectAsync, type ErrorWithReasonCode } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { Resources } from "../src/index.js";

const root = workspaceRoot();
const SUMMARY_KEYS = [
  "apiUrl",
  "integratorId",
  "clientId",
  "clientSecret",
  "lockHolderId",
  "vendorConnectionId",
  "bridgeId",
  "locks",
].sort();

/** Free ports for everything: the test must not take (or depend on) 8080, 1883 or 9108. */
const PORTS = ["--port", "0", "--mqtt-port", "0", "--metrics-port", "0"];

/**
 * `npm start` itself, as a newcomer runs it: the demo as a spawned process (PASS, exit 0, the summary file), then a
 * second start on the same data (the same integrator, lock holder, bridge and locks; the printed curl line creates a
 * key), and Ctrl-C (SIGINT) stopping everything with exit 0. DATABASE_URL and MQTT_URL in the environment (CI sets
 * them) must not change what `npm start` runs.
 */
describe("npm start", () => {
  const resources = new Resources();
  afterEach(() => resources.cleanup());

  function launch(
    name: string,
    command: { command: string } | { script: string },
    args: string[],
    env: NodeJS.ProcessEnv = {},
  ): ManagedChild {
    const child = new ManagedChild({
      name,
      ...command,
      args,
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", ...env },
      ownProcessGroup: true,
      stdin: "pipe",
    });
    resources.defer(`stop ${name}`, async () => {
      if (!child.running) return;
      // SIGTERM lets the launcher stop its cloud and bridge; the whole group gets SIGKILL if it hangs.
      process.kill(-child.pid!, "SIGTERM");
      const timer = setTimeout(() => child.running && process.kill(-child.pid!, "SIGKILL"), 20_000);
      await child.waitForExit();
      clearTimeout(timer);
    });
    return child;
  }

  it("--demo plays the scenario to PASS and writes the summary; a second start reuses the data; Ctrl-C stops it", async () => {
    const dir = resources.tempDir("latchkey-e2e-stack-");
    const data = join(dir, "data");
    const first = join(dir, "summary.json");

    const demo = launch("npm start -- --demo", { command: "npm" }, [
      "start",
      "--",
      "--demo",
      "--summary-json",
      first,
      "--data",
      data,
      ...PORTS,
      "--no-console",
    ]);
    const { code } = await demo.waitForExit();
    const output = demo.lines.map((l) => l.text).join("\n");
    expect(code, output).toBe(0);
    expect(output).toMatch(/PASS: 17 steps/);
    expect(output).not.toMatch(/✗/);
    // Every lock claimed with its setup code through the Integrator API; the codes themselves never printed.
    expect(output).toMatch(/3 locks claimed with their setup codes through the Integrator API \(3 claimed now\)/);
    expect(output).toMatch(/POST …\/locks\/claims → claimed: sim-lock-001 \((no signed state yet|state v \d+)\), /);
    expect(output).toMatch(/GET \/app\/v1\/keys → states: sim-lock-001 v \d+, sim-lock-002 v \d+ \(signed by/);
    expect(output).toMatch(/sim-lock-003 \(claimed with their setup codes\)/);
    expect(output).not.toMatch(/LK1:/i);
    // A remote unlock proved by the lock's own report; a revocation carried to a lock cut off from its bridge by a
    // second phone, after which the first phone is refused.
    expect(output).toMatch(/POST …\/locks\/sim-lock-001\/actions \{action: unlock\} → act_\w+ succeeded/);
    expect(output).toMatch(/bridge process frozen \(SIGSTOP\).*sim-lock-001 runs state v (\d+)/);
    expect(output).toMatch(/\+4790000002 prefetched .* handed it the newer state first: the lock now runs v \d+/);
    expect(output).toMatch(
      /✓ the revoked key is denied: the first phone still held the token; sim-lock-001 said revoked/,
    );
    expect(output).toMatch(/bridge resumed \(SIGCONT\); GET …\/events → denied \(revoked\)/);

    const summary = JSON.parse(readFileSync(first, "utf8")) as StackSummary;
    expect(Object.keys(summary).sort()).toEqual(SUMMARY_KEYS);
    expect(summary.locks).toEqual(["sim-lock-001", "sim-lock-002", "sim-lock-003"]);
    expect(summary.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(statSync(first).mode & 0o777).toBe(0o600);
    expect(statSync(join(data, "stack.json")).mode & 0o777).toBe(0o600);
    // Embedded defaults whatever the environment says: SQLite in the data directory.
    expect(existsSync(join(data, "cloud", "cloud.sqlite"))).toBe(true);

    const second = join(dir, "summary-2.json");
    const stack = launch("latchkey-stack", { script: join(root, "scripts/bin/latchkey-stack.js") }, [
      "--summary-json",
      second,
      "--data",
      data,
      ...PORTS,
    ]);
    await stack.waitForLine("the summary file", (l) => l.text.includes(`summary written to ${second}`), {
      timeoutMs: 90_000,
    });
    const again = JSON.parse(readFileSync(second, "utf8")) as StackSummary;
    expect({ ...again, apiUrl: "" }).toEqual({ ...summary, apiUrl: "" });
    expect(stack.lines.some((l) => l.text.includes("reusing"))).toBe(true);
    expect(stack.lines.some((l) => l.text.includes("is registered from the last start"))).toBe(true);
    expect(stack.lines.some((l) => l.text.includes("(3 claimed already)"))).toBe(true);

    // The copy-paste line of the summary creates a key with curl.
    const curlLine = stack.lines.find((l) => l.text.startsWith("TOKEN=$(curl"))!.text;
    const curl = spawnSync("bash", ["-c", curlLine], { encoding: "utf8", timeout: 30_000 });
    expect(curl.status, curl.stderr).toBe(0);
    const key = JSON.parse(curl.stdout) as { id: string; state: string; lockId: string };
    expect(key).toMatchObject({ state: "active", lockId: "sim-lock-001" });
    const client = await IntegratorClient.login(again.apiUrl, again);
    const locks = (await client.listLocks(again.lockHolderId)).locks;
    expect(locks.map((l) => [l.id, l.claimed])).toEqual(again.locks.map((id) => [id, true]));
    expect((await client.getKey(again.lockHolderId, key.id)).userId).toBe("+4791234567");

    // The stack's console: the phone fetches the new key and opens the lock over the virtual radio.
    stack.write("unlock sim-lock-001\n");
    await stack.waitForLine("the unlock", (l) => l.text.includes(`sim-lock-001 unlocked with ${key.id}`));
    await client.waitForEvent(again.lockHolderId, "the console's unlock in the cloud", (e) => e.keyId === key.id);
    // A remote unlock from the console: the bridge carries the cloud's signed command to the lock.
    stack.write("remote sim-lock-002\n");
    await stack.waitForLine("the remote unlock", (l) => /sim-lock-002: remote unlock act_\w+ succeeded/.test(l.text));
    stack.write("frobnicate\n");
    await stack.waitForLine("the refusal", (l) => l.text.includes('unknown command "frobnicate"; try help'));
    // Issue 15 item 10: a console command given no arguments shows its usage.
    stack.write("battery\n");
    await stack.waitForLine("the usage", (l) =>
      l.text.includes("usage: battery <lockId> <0-100> (locks: sim-lock-001"),
    );

    process.kill(stack.pid!, "SIGINT");
    const stopped = await stack.waitForExit();
    expect(stopped.code, stack.tail(30).join("\n")).toBe(0);
    expect(stack.lines.some((l) => l.text.includes("bridge stopped"))).toBe(true);
    await pollUntil("the cloud to be gone", async () => {
      try {
        await fetch(`${again.apiUrl}/docs/json`);
        return false;
      } catch {
        return true;
      }
    });
  });

  it("when the cloud dies, the launcher says so, stops the bridge and the locks, and exits 1", async () => {
    const dir = resources.tempDir("latchkey-e2e-stack-");
    const stack = launch("latchkey-stack", { script: join(root, "scripts/bin/latchkey-stack.js") }, [
      "--data",
      join(dir, "data"),
      "--locks",
      "1",
      "--no-console",
      ...PORTS,
    ]);
    const line = await stack.waitForLine("the cloud's pid", (l) => /cloud listening on .* \(pid \d+\)/.test(l.text), {
      timeoutMs: 90_000,
    });
    await stack.waitForLine("the summary", (l) => l.text.startsWith("TOKEN=$(curl"), { timeoutMs: 90_000 });
    process.kill(Number(/\(pid (\d+)\)/.exec(line.text)![1]), "SIGKILL");
    const { code } = await stack.waitForExit();
    expect(code).toBe(1);
    expect(stack.lines.some((l) => l.text.includes("cloud exited unexpectedly (SIGKILL); stopping the rest"))).toBe(
      true,
    );
    expect(stack.lines.some((l) => l.text.includes("bridge stopped"))).toBe(true);
    expect(existsSync(join(dir, "data", "stack.pid"))).toBe(false);
  });

  it("--ha-password gives Home Assistant a broker login that sees the discovery of the bridge and its locks", async () => {
    const dir = resources.tempDir("latchkey-e2e-stack-");
    const password = "ha-password-for-the-demo";
    const stack = launch(
      "latchkey-stack --ha-password env",
      { script: join(root, "scripts/bin/latchkey-stack.js") },
      ["--data", join(dir, "data"), "--locks", "1", "--no-console", "--ha-password", "env", ...PORTS],
      { LATCHKEY_HA_PASSWORD: password },
    );
    await stack.waitForLine("the summary", (l) => l.text.startsWith("TOKEN=$(curl"), { timeoutMs: 90_000 });
    const haLine = stack.lines.find((l) => l.text.includes("Home Assistant"))?.text ?? "";
    const broker = /broker (mqtt:\/\/127\.0\.0\.1:\d+), username homeassistant@latchkey/.exec(haLine)?.[1];
    expect(broker, haLine).toBeDefined();
    expect(stack.lines.map((l) => l.text).join("\n")).not.toContain(password);

    // A wrong password is refused by the broker (CONNACK 4, "bad user name or password"): the login is the one given.
    const refused = await connectAsync(broker!, {
      username: "homeassistant@latchkey",
      password: "not-the-password",
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    }).then(
      (c) => c.endAsync().then(() => 0),
      (e: ErrorWithReasonCode) => e.code ?? -1,
    );
    expect(refused).toBe(4);

    const ha = await connectAsync(broker!, {
      username: "homeassistant@latchkey",
      password,
      reconnectPeriod: 0,
      clientId: "home-assistant-e2e",
    });
    resources.defer("disconnect Home Assistant", () => ha.endAsync());
    const configs = new Map<string, Record<string, unknown>>();
    ha.on("message", (topic, payload) => {
      if (topic.endsWith("/config") && payload.length > 0)
        configs.set(topic, JSON.parse(payload.toString("utf8")) as Record<string, unknown>);
    });
    await ha.subscribeAsync("homeassistant/#", { qos: 1 });
    await pollUntil("the discovery of the bridge and sim-lock-001", async () => {
      const all = [...configs.values()];
      return (
        all.some((c) => JSON.stringify(c.device).includes("sim-lock-001")) &&
        all.some((c) => JSON.stringify(c.device).includes("latchkey bridge"))
      );
    });
    // Each lock's device hangs under the bridge's device (via_device), which is itself published.
    const lockDevice = [...configs.values()].find((c) => JSON.stringify(c.device).includes("sim-lock-001"))!.device as {
      via_device?: string;
    };
    const bridgeIds = [...configs.values()].flatMap((c) => (c.device as { identifiers?: string[] }).identifiers ?? []);
    expect(bridgeIds).toContain(lockDevice.via_device);

    process.kill(stack.pid!, "SIGINT");
    expect((await stack.waitForExit()).code, stack.tail(30).join("\n")).toBe(0);
  });

  it("--ble hci-emulated plays the demo with sim-lock-001 on bleno and the phone on noble, their own stacks over emulated HCI", async () => {
    const dir = resources.tempDir("latchkey-e2e-stack-");
    const data = join(dir, "data");
    const demo = launch(
      "npm start -- --demo --ble hci-emulated",
      { script: join(root, "scripts/bin/latchkey-stack.js") },
      ["--demo", "--ble", "hci-emulated", "--data", data, "--no-console", ...PORTS],
    );
    const { code } = await demo.waitForExit();
    const output = demo.lines.map((l) => l.text).join("\n");
    expect(code, output).toBe(0);
    expect(output).toMatch(/PASS: 17 steps/);
    expect(output).toMatch(/BLE: sim-lock-001 on bleno and the phone on noble over emulated HCI controllers/);
    expect(output).toMatch(/✓ offline: the phone opens the doors over BLE \(noble and bleno's own stacks/);
    // The controllers' own log shows the phone's noble connecting to the lock's bleno and ATT crossing the air.
    const hci = readFileSync(join(data, "hci.log"), "utf8");
    expect(hci).toMatch(/\[phone\] < HCI Command: LE Create Connection/);
    expect(hci).toMatch(/\[sim-lock-001\]\s+ATT: Exchange MTU Response/);
    expect(hci).toMatch(/\[phone\]\s+ATT: Write Request/);
  });
});
