import { join } from "node:path";
import { vendorCredentialDigestSync } from "@latchkey/protocol";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { siteChanges, VENDOR } from "./helpers/bridge.js";
import { type LogCapture, SITE_SECRET } from "./helpers/fixtures.js";
import { bridgeSiteEach } from "./helpers/site-each.js";
import { waitFor } from "./helpers/wait.js";

describe("vendor connections", () => {
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;

  const vcChange = (password: string, state: string, id = "vc_1") => {
    const salt = Buffer.from(`salt-${password}`).toString("base64url");
    site.cloud.append({
      kind: "vendor_connection",
      vendorConnection: {
        id,
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
    ({ bridge } = await site.start());
    for (const id of ["lock-b", "lock-a"]) {
      await site.lock(id);
    }
    vcChange(VENDOR.password, "connecting");
    await waitFor("state report", () => site.cloud.stateReports.length > 0);
    expect(site.cloud.stateReports).toEqual([{ vcId: "vc_1", state: "connected" }]);
    expect(site.cloud.lockReports.at(-1)).toEqual({ vcId: "vc_1", locks: ["lock-a", "lock-b"] });
    // A lock seen later is reported with the full list.
    await site.lock("lock-c");
    await waitFor("new lock reported", () => site.cloud.lockReports.at(-1)?.locks.length === 3);
    expect(site.cloud.lockReports.at(-1)?.locks).toEqual(["lock-a", "lock-b", "lock-c"]);
  });

  it("the cloud's echo of connected and unrelated feed changes repeat no state report (issue 15 item 9)", async () => {
    ({ bridge } = await site.start());
    await site.lock("lock-a");
    vcChange(VENDOR.password, "connecting");
    await waitFor("state report", () => site.cloud.stateReports.length > 0);
    // The cloud now says connected (what the bridge reported), and other things change on the feed.
    vcChange(VENDOR.password, "connected");
    site.cloud.append({ kind: "issuer", lockHolderId: "lh_1", kid: "c3d4", x: "22".repeat(32), retired: false });
    await site.lock("lock-b");
    await waitFor("the new lock reported", () => site.cloud.lockReports.at(-1)?.locks.length === 2);
    expect(site.cloud.stateReports).toEqual([{ vcId: "vc_1", state: "connected" }]);
  });

  it("puts a connection with wrong credentials in error, and back to connected after a new password and refresh", async () => {
    ({ bridge } = await site.start());
    vcChange("wrong-password", "connecting");
    await waitFor("error report", () => site.cloud.stateReports.length > 0);
    expect(site.cloud.stateReports).toEqual([{ vcId: "vc_1", state: "error", reason: "invalid vendor credentials" }]);
    expect(site.cloud.lockReports).toEqual([]);
    vcChange("wrong-password", "error"); // the cloud confirms: nothing more to say
    vcChange(VENDOR.password, "refreshing"); // update-password + refresh
    await waitFor("connected report", () => site.cloud.stateReports.length === 2);
    expect(site.cloud.stateReports[1]).toEqual({ vcId: "vc_1", state: "connected" });
    expect(site.cloud.lockReports).toHaveLength(1);
  });

  it("reports the other connections when the cloud refuses one connection's lock list", async () => {
    // Before: the first refusal ended the round, so the connections after it were never reported (at every retry).
    site.cloud.refuseLockLists.add("vc_1");
    ({ bridge } = await site.start());
    await site.lock("lock-a");
    vcChange(VENDOR.password, "connecting", "vc_1");
    vcChange(VENDOR.password, "connecting", "vc_2");
    await waitFor("vc_2 reported", () => site.cloud.stateReports.some((r) => r.vcId === "vc_2"));
    expect(site.cloud.stateReports).toEqual([{ vcId: "vc_2", state: "connected" }]);
    expect(site.cloud.lockReports).toEqual([{ vcId: "vc_2", locks: ["lock-a"] }]);
  });

  it("puts a connection in error, naming the limit, when it reaches more locks than one report may list", async () => {
    // The bridge API takes at most 10,000 found locks a connection (docs/bridge-api.md): more would be refused at every
    // retry, silently. A gateway that once saw 10,001 MQTT locks keeps them in its registry.
    ({ bridge } = await site.start());
    await bridge.stop();
    const db = new Database(join(site.dir.path, "bridge.db"));
    const add = db.prepare(
      "INSERT INTO locks (lock_id, transport, first_seen_at, last_seen_at) VALUES (?, 'mqtt', 1, 1)",
    );
    db.transaction(() => {
      for (let i = 0; i < 10_001; i++) add.run(`lock-${String(i).padStart(5, "0")}`);
    })();
    db.close();
    ({ bridge } = await site.start());
    vcChange(VENDOR.password, "connecting");
    await waitFor("error report", () => site.cloud.stateReports.length > 0);
    expect(site.cloud.stateReports).toEqual([
      {
        vcId: "vc_1",
        state: "error",
        reason:
          "this bridge reaches 10001 locks for the vendor account; one vendor connection holds at most 10000: split " +
          "them over vendor accounts (vendorAccounts[].locks)",
      },
    ]);
    expect(site.cloud.lockReports).toEqual([]);
  });

  it("reports an error naming the missing vendor account", async () => {
    ({ bridge } = await site.start({ vendorAccounts: [] }));
    vcChange(VENDOR.password, "connecting");
    await waitFor("error report", () => site.cloud.stateReports.length > 0);
    expect(site.cloud.stateReports[0]).toEqual({
      vcId: "vc_1",
      state: "error",
      reason: 'no sim vendor account "site-a" is configured on this bridge',
    });
  });

  it("retries reports while the cloud is down, and re-checks after a configuration change", async () => {
    site.cloud.down = true;
    vcChange(VENDOR.password, "connecting");
    ({ bridge } = await site.start({ vendorAccounts: [{ ...VENDOR, password: "old" }] }));
    site.cloud.down = false;
    await waitFor("error report", () => site.cloud.stateReports.length > 0);
    expect(site.cloud.stateReports[0]?.state).toBe("error");
    vcChange(VENDOR.password, "error");
    await bridge.ready;
    await bridge.stop();
    // The operator fixes the bridge's configuration and restarts it.
    ({ bridge } = await site.start());
    await waitFor("connected report", () => site.cloud.stateReports.some((r) => r.state === "connected"));
  });

  it("sends heartbeats and serves /healthz and /metrics, without secrets in logs", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    let log: LogCapture;
    ({ bridge, log } = await site.start());
    await bridge.ready;
    await waitFor("heartbeat", () => site.cloud.heartbeats > 0);
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
    for (const secret of [SITE_SECRET, site.cloud.secret, VENDOR.password, "home-assistant-password"])
      expect(all).not.toContain(secret);
    await bridge.stop();
    bridge = null;
  });
});
