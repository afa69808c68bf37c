import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { deriveLockPassword } from "@latchkey/protocol";
import { pollUntil } from "@latchkey/runtime";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mosquittoAcl } from "../src/mosquitto/acl.js";
import { writeMosquittoFiles } from "../src/mosquitto/files.js";
import { mosquittoPasswordLine } from "../src/mosquitto/password-file.js";

const mosquittoBinary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"].find(
  (p) => spawnSync(p, ["-h"]).error === undefined,
);
const siteSecret = "test site secret, long enough";

describe("Mosquitto password and ACL files", () => {
  it("writes password lines that mosquitto_passwd's format verifies", () => {
    const line = mosquittoPasswordLine("lock-1", "pw", { iterations: 101, salt: Buffer.alloc(12, 1) });
    expect(line).toMatch(/^lock-1:\$7\$101\$AQEBAQEBAQEBAQEB\$[A-Za-z0-9+/]{86}==$/);
    expect(() => mosquittoPasswordLine("a:b", "pw")).toThrow();
  });

  it("grants locks only their own topics and the bridge everything under the prefix", () => {
    const acl = mosquittoAcl({ bridgeUsername: "bridge@br_1", topicPrefix: "site/latchkey" });
    expect(acl).toContain("user bridge@br_1\ntopic readwrite site/latchkey/#");
    expect(acl).toContain("pattern write site/latchkey/locks/%u/events");
    expect(acl).toContain("pattern write site/latchkey/locks/%u/keys");
    expect(acl).toContain("pattern read site/latchkey/locks/%u/cmd");
    // No sync topic any more (docs/design.md section 7 "Removed"): a lock neither reads nor writes one.
    expect(acl).not.toContain("/sync");
    expect(acl).toContain("pattern write site/latchkey/locks/%u/time/request");
    expect(acl).toContain("pattern read site/latchkey/locks/%u/state");
    expect(acl).toContain("pattern read site/latchkey/locks/%u/time/answer");
    expect(acl).not.toMatch(/pattern (readwrite|write) site\/latchkey\/locks\/%u\/(cmd|state|time\/answer)$/m);
    expect(acl).not.toMatch(/pattern (readwrite|read) site\/latchkey\/locks\/%u\/(keys|events|telemetry)$/m);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const skipReason = mosquittoBinary ? "" : " (skipped: no mosquitto binary on this host)";

describe.skipIf(!mosquittoBinary)(`a real Mosquitto with the generated files${skipReason}`, () => {
  let dir: string;
  let broker: ChildProcess;
  let url: string;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-mosquitto-"));
    const port = await freePort();
    const files = writeMosquittoFiles({
      dir,
      siteSecret,
      lockIds: ["lock-a", "lock-b"],
      bridgeUsername: "bridge@br_1",
      bridgePassword: "bridge password",
      listener: { host: "127.0.0.1", port },
      runAsUser: userInfo().username,
    });
    broker = spawn(mosquittoBinary!, ["-c", files.confFile!], { stdio: ["ignore", "ignore", "pipe"] });
    url = `mqtt://127.0.0.1:${port}`;
    await pollUntil("mosquitto to listen", async () => {
      const c = mqtt.connect(url, {
        username: "bridge@br_1",
        password: "bridge password",
        reconnectPeriod: 0,
        connectTimeout: 500,
      });
      const ok = await new Promise<boolean>((r) => {
        c.once("connect", () => r(true));
        c.once("error", () => r(false));
        c.once("close", () => r(false));
      });
      c.end(true);
      return ok ? true : undefined;
    });
  });

  afterAll(async () => {
    for (const c of clients) c.end(true);
    broker?.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  });

  async function connect(username: string, password: string): Promise<MqttClient> {
    const c = mqtt.connect(url, { username, password, reconnectPeriod: 0, protocolVersion: 5 });
    clients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once("connect", () => resolve());
      c.once("error", reject);
    });
    return c;
  }

  it("refuses unauthenticated clients and wrong lock passwords", async () => {
    await expect(connect("", "")).rejects.toThrow();
    await expect(connect("lock-a", deriveLockPassword(siteSecret, "lock-b"))).rejects.toThrow(
      /Not authorized|Bad User Name or Password/,
    );
  });

  it("delivers a lock's own events to the bridge but drops what it publishes under another lock or as the bridge", async () => {
    const bridge = await connect("bridge@br_1", "bridge password");
    const seen: string[] = [];
    bridge.on("message", (topic) => seen.push(topic));
    await bridge.subscribeAsync("latchkey/#", { qos: 1 });
    const lockA = await connect("lock-a", deriveLockPassword(siteSecret, "lock-a"));
    // MQTT 5: Mosquitto answers the PUBACK with "Not authorized" and drops the message.
    await expect(lockA.publishAsync("latchkey/locks/lock-b/events", "forged", { qos: 1 })).rejects.toThrow(
      /Not authorized/,
    );
    await expect(lockA.publishAsync("latchkey/locks/lock-a/sync", "self-sync", { qos: 1 })).rejects.toThrow(
      /Not authorized/,
    );
    // Another lock's keys (retained, as keys are): a lock speaks only for itself.
    await expect(
      lockA.publishAsync("latchkey/locks/lock-b/keys", "lock-a's keys as lock-b's", { qos: 1, retain: true }),
    ).rejects.toThrow(/Not authorized/);
    // Nor may it write what only the bridge carries: the authority's state and time answers.
    for (const kind of ["state", "time/answer", "cmd"])
      await expect(lockA.publishAsync(`latchkey/locks/lock-a/${kind}`, "self-made", { qos: 1 })).rejects.toThrow(
        /Not authorized/,
      );
    await expect(
      lockA.publishAsync("latchkey/bridges/br_1/status", "offline", { qos: 1, retain: true }),
    ).rejects.toThrow(/Not authorized/);
    await lockA.publishAsync("latchkey/locks/lock-a/keys", "my keys", { qos: 1, retain: true });
    await lockA.publishAsync("latchkey/locks/lock-a/events", "mine", { qos: 1 });
    await pollUntil("the lock's own event", () => (seen.includes("latchkey/locks/lock-a/events") ? true : undefined));
    expect(seen).toEqual(["latchkey/locks/lock-a/keys", "latchkey/locks/lock-a/events"]);
  });

  it("lets a lock read only its own state and cmd, not another lock's keys or reports", async () => {
    const lockA = await connect("lock-a", deriveLockPassword(siteSecret, "lock-a"));
    const granted = await lockA.subscribeAsync(
      ["latchkey/locks/lock-a/state", "latchkey/locks/lock-a/cmd", "latchkey/locks/lock-b/state", "latchkey/#"],
      { qos: 1 },
    );
    // Mosquitto grants the subscription but delivers only what the ACL allows the user to read.
    const got: string[] = [];
    lockA.on("message", (topic, payload) => got.push(`${topic}=${payload.toString()}`));
    const bridge = await connect("bridge@br_1", "bridge password");
    const lockB = await connect("lock-b", deriveLockPassword(siteSecret, "lock-b"));
    await lockB.publishAsync("latchkey/locks/lock-b/keys", "b-keys", { qos: 1, retain: true });
    await lockB.publishAsync("latchkey/locks/lock-b/events", "b-event", { qos: 1 });
    await bridge.publishAsync("latchkey/locks/lock-b/state", "for-b", { qos: 1, retain: true });
    await bridge.publishAsync("latchkey/locks/lock-a/cmd", "cmd-for-a", { qos: 1 });
    await bridge.publishAsync("latchkey/locks/lock-a/state", "for-a", { qos: 1, retain: true });
    await pollUntil("lock-a's state", () => (got.some((g) => g.endsWith("=for-a")) ? true : undefined));
    expect(granted.length).toBe(4);
    expect(got).toContain("latchkey/locks/lock-a/cmd=cmd-for-a");
    expect(got.filter((g) => g.includes("lock-b"))).toEqual([]);
    expect(readFileSync(join(dir, "passwords"), "utf8").split("\n").filter(Boolean)).toHaveLength(3);
    // Clear what this test retained, so the broker keeps nothing for a later run of it.
    for (const [client, topic] of [
      [lockB, "latchkey/locks/lock-b/keys"],
      [bridge, "latchkey/locks/lock-b/state"],
      [bridge, "latchkey/locks/lock-a/state"],
    ] as const)
      await client.publishAsync(topic, "", { qos: 1, retain: true });
  });
});
