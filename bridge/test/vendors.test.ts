import { vendorCredentialDigestSync } from "@latchkey/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { siteChanges, startTestBridge, VENDOR } from "./helpers/bridge.js";
import { SITE_SECRET, tempDir } from "./helpers/fixtures.js";
import { MqttLock } from "./helpers/mqtt-lock.js";
import { TestCloud } from "./helpers/test-cloud.js";
import { waitFor } from "./helpers/wait.js";

describe("vendor connections", () => {
  let cloud: TestCloud;
  let dir: ReturnType<typeof tempDir>;
  let bridge: RunningBridge | null = null;
  const locks: MqttLock[] = [];

  beforeEach(async () => {
    cloud = new TestCloud();
    await cloud.start();
    dir = tempDir();
  });
  afterEach(async () => {
    for (const l of locks.splice(0)) await l.close().catch(() => {});
    await bridge?.stop();
    bridge = null;
    await cloud.stop();
    dir.remove();
  });

  const vcChange = (password: string, state: string) => {
    const salt = Buffer.from(`salt-${password}`).toString("base64url");
    cloud.append({
      kind: "vendor_connection",
      vendorConnection: {
        id: "vc_1",
        lockHolderId: "lh_1",
        vendor: "sim",
        username: VENDOR.username,
        credentialCheck: { salt, digest: vendorCredentialDigestSync("sim", VENDOR.username, password, salt) },
        state,
        deleted: false,
      },
    });
  };

  it("reports connected and the locks it reaches when the credentials match", async () => {
    ({ bridge } = await startTestBridge(cloud, dir.path));
    for (const id of ["lock-b", "lock-a"]) {
      const l = new MqttLock(id, bridge.mqttUrl);
      locks.push(l);
      await l.connect();
    }
    vcChange(VENDOR.password, "connecting");
    await waitFor("state report", () => cloud.stateReports.length > 0);
    expect(cloud.stateReports).toEqual([{ vcId: "vc_1", state: "connected" }]);
    expect(cloud.lockReports.at(-1)).toEqual({ vcId: "vc_1", locks: ["lock-a", "lock-b"] });
    // A lock seen later is reported with the full list.
    const c = new MqttLock("lock-c", bridge.mqttUrl);
    locks.push(c);
    await c.connect();
    await waitFor("new lock reported", () => cloud.lockReports.at(-1)?.locks.length === 3);
    expect(cloud.lockReports.at(-1)?.locks).toEqual(["lock-a", "lock-b", "lock-c"]);
  });

  it("the cloud's echo of connected and unrelated feed changes repeat no state report (issue 15 item 9)", async () => {
    ({ bridge } = await startTestBridge(cloud, dir.path));
    const a = new MqttLock("lock-a", bridge.mqttUrl);
    locks.push(a);
    await a.connect();
    vcChange(VENDOR.password, "connecting");
    await waitFor("state report", () => cloud.stateReports.length > 0);
    // The cloud now says connected (what the bridge reported), and other things change on the feed.
    vcChange(VENDOR.password, "connected");
    cloud.append({ kind: "issuer", lockHolderId: "lh_1", kid: "c3d4", x: "22".repeat(32), retired: false });
    const b = new MqttLock("lock-b", bridge.mqttUrl);
    locks.push(b);
    await b.connect();
    await waitFor("the new lock reported", () => cloud.lockReports.at(-1)?.locks.length === 2);
    expect(cloud.stateReports).toEqual([{ vcId: "vc_1", state: "connected" }]);
  });

  it("puts a connection with wrong credentials in error, and back to connected after a new password and refresh", async () => {
    ({ bridge } = await startTestBridge(cloud, dir.path));
    vcChange("wrong-password", "connecting");
    await waitFor("error report", () => cloud.stateReports.length > 0);
    expect(cloud.stateReports).toEqual([{ vcId: "vc_1", state: "error", reason: "invalid vendor credentials" }]);
    expect(cloud.lockReports).toEqual([]);
    vcChange("wrong-password", "error"); // the cloud confirms: nothing more to say
    vcChange(VENDOR.password, "refreshing"); // update-password + refresh
    await waitFor("connected report", () => cloud.stateReports.length === 2);
    expect(cloud.stateReports[1]).toEqual({ vcId: "vc_1", state: "connected" });
    expect(cloud.lockReports).toHaveLength(1);
  });

  it("reports an error naming the missing vendor account", async () => {
    ({ bridge } = await startTestBridge(cloud, dir.path, { vendorAccounts: [] }));
    vcChange(VENDOR.password, "connecting");
    await waitFor("error report", () => cloud.stateReports.length > 0);
    expect(cloud.stateReports[0]).toEqual({
      vcId: "vc_1",
      state: "error",
      reason: 'no sim vendor account "site-a" is configured on this bridge',
    });
  });

  it("retries reports while the cloud is down, and re-checks after a configuration change", async () => {
    cloud.down = true;
    vcChange(VENDOR.password, "connecting");
    ({ bridge } = await startTestBridge(cloud, dir.path, { vendorAccounts: [{ ...VENDOR, password: "old" }] }));
    cloud.down = false;
    await waitFor("error report", () => cloud.stateReports.length > 0);
    expect(cloud.stateReports[0]?.state).toBe("error");
    vcChange(VENDOR.password, "error");
    await bridge.ready;
    await bridge.stop();
    // The operator fixes the bridge's configuration and restarts it.
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await waitFor("connected report", () => cloud.stateReports.some((r) => r.state === "connected"));
  });

  it("sends heartbeats and serves /healthz and /metrics, without secrets in logs", async () => {
    siteChanges(cloud, ["lock-a"]);
    let log: Awaited<ReturnType<typeof startTestBridge>>["log"];
    ({ bridge, log } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    await waitFor("heartbeat", () => cloud.heartbeats > 0);
    const health = await fetch(`${bridge.metricsUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      ok: true,
      status: "running",
      bridgeId: "br-test",
      broker: { kind: "embedded" },
    });
    const text = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    for (const name of [
      "latchkey_bridge_outbox_items",
      "latchkey_bridge_outbox_full",
      "latchkey_bridge_outbox_max_items",
      "latchkey_bridge_locks_online",
      "latchkey_bridge_vendor_connections",
      "latchkey_bridge_process_resident_memory_bytes",
    ])
      expect(text).toContain(name);
    expect((await fetch(`${bridge.metricsUrl}/nope`)).status).toBe(404);
    const all = log.raw.join("\n");
    for (const secret of [SITE_SECRET, cloud.secret, VENDOR.password, "home-assistant-password"])
      expect(all).not.toContain(secret);
    await bridge.stop();
    bridge = null;
  });
});
