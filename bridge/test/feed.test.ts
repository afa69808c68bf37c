import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { siteChanges, startTestBridge } from "./helpers/bridge.js";
import { tempDir } from "./helpers/fixtures.js";
import { TestCloud } from "./helpers/test-cloud.js";
import { waitFor } from "./helpers/wait.js";

const cti = (n: number) => n.toString(16).padStart(32, "0");
const key = (n: number, lockId: string, state: "active" | "revoked") => ({
  kind: "key",
  keyId: `k${n}`,
  lockId,
  cti: cti(n),
  sub: `+47900000${String(n).padStart(2, "0")}`,
  nbf: 1_799_000_000,
  exp: 1_801_000_000,
  state,
});

/**
 * The change feed after the switch-over (docs/bridge-api.md): it drives vendor connections, lock lists, signed-state
 * refetches and remote actions. Keys and issuer keys reach locks only inside the cloud's signed state, so the bridge
 * keeps nothing of them (no phone numbers, no key schedules).
 */
describe("change feed", () => {
  let cloud: TestCloud;
  let dir: ReturnType<typeof tempDir>;
  let bridge: RunningBridge | null = null;

  beforeEach(async () => {
    cloud = new TestCloud();
    await cloud.start();
    dir = tempDir();
  });
  afterEach(async () => {
    await bridge?.stop();
    bridge = null;
    await cloud.stop();
    dir.remove();
  });

  it("turns a key revocation into a fetch of the lock's signed state, and keeps no key or phone number", async () => {
    // Whatever shape a key entry has (the bridge reads nothing in it), it means the lock's state changed.
    siteChanges(cloud, ["lock-a"]);
    cloud.append(key(1, "lock-a", "active"));
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    await waitFor("lock-a's state fetched", () => cloud.stateFetches.includes("lock-a"));
    const fetches = cloud.stateFetches.length;
    const { sub: _sub, ...withoutHolder } = key(1, "lock-a", "revoked");
    cloud.append(withoutHolder);
    await waitFor("fetched again after the revocation", () => cloud.stateFetches.length > fetches);
    await bridge.stop();
    bridge = null;
    const db = new Database(join(dir.path, "bridge.db"), { readonly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    db.close();
    expect(tables).not.toContain("keys");
    expect(tables).not.toContain("issuers");
    expect(readFileSync(join(dir.path, "bridge.db")).includes("+4790000001")).toBe(false);
  });

  it("asks for no state of a lock the feed says is unclaimed, until a claim arrives", async () => {
    siteChanges(cloud, []);
    cloud.append({
      kind: "lock",
      lockId: "lock-u",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
      claimed: false,
    });
    cloud.append({
      kind: "lock",
      lockId: "lock-c",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
      claimed: true,
    });
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    await waitFor("the claimed lock's state fetched", () => cloud.stateFetches.includes("lock-c"));
    expect(cloud.stateFetches).not.toContain("lock-u");
    cloud.append({
      kind: "lock",
      lockId: "lock-u",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
      claimed: true,
    });
    await waitFor("its state fetched once claimed", () => cloud.stateFetches.includes("lock-u"));
  });

  it("resumes the change feed from its persisted cursor after a restart", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    await bridge.stop();
    const asked = cloud.cursorsAsked.length;
    cloud.append({ kind: "lock", lockId: "lock-b", vendorConnectionId: "vc_1", lockHolderId: "lh_1", removed: false });
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    expect(cloud.cursorsAsked[asked]).toBe("c3");
    await waitFor("the lock assigned while away is served", () => cloud.stateFetches.includes("lock-b"));
  });

  it("replays the feed from the start when the cloud refuses the cursor", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    await bridge.stop();
    const db = new Database(join(dir.path, "bridge.db"));
    db.prepare("UPDATE feed_cursor SET cursor = 'garbage'").run();
    db.close();
    let log: Awaited<ReturnType<typeof startTestBridge>>["log"];
    ({ bridge, log } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    expect(log.has("change feed refused the cursor; replaying the feed from the start")).toBe(true);
    expect(cloud.cursorsAsked.slice(-2)).toContain("");
  });

  it("skips a malformed change without stopping the feed", async () => {
    siteChanges(cloud, ["lock-a"]);
    cloud.append({
      kind: "lock",
      lockId: "lock/../x",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
    });
    cloud.append({ kind: "action", actionId: "act_bad", lockId: "lock-a", action: "open-sesame", expiresAt: "soon" });
    cloud.append({ kind: "something_new", value: 1 });
    cloud.append({ kind: "lock", lockId: "lock-b", vendorConnectionId: "vc_1", lockHolderId: "lh_1", removed: false });
    let log: Awaited<ReturnType<typeof startTestBridge>>["log"];
    ({ bridge, log } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    await waitFor("the change after them applied", () => cloud.stateFetches.includes("lock-b"));
    expect(log.lines.filter((l) => l.msg === "skipping a malformed change-feed entry")).toHaveLength(2);
    expect(await (await fetch(`${bridge.metricsUrl}/metrics`)).text()).toMatch(
      /latchkey_bridge_feed_changes_rejected_total 2/,
    );
  });
});
