import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { siteChanges, type startTestBridge } from "./helpers/bridge.js";
import { bridgeSiteEach } from "./helpers/site-each.js";
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
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;

  it("turns a key revocation into a fetch of the lock's signed state, and keeps no key or phone number", async () => {
    // Whatever shape a key entry has (the bridge reads nothing in it), it means the lock's state changed.
    siteChanges(site.cloud, ["lock-a"]);
    site.cloud.append(key(1, "lock-a", "active"));
    ({ bridge } = await site.start());
    await bridge.ready;
    await waitFor("lock-a's state fetched", () => site.cloud.stateFetches.includes("lock-a"));
    const fetches = site.cloud.stateFetches.length;
    const { sub: _sub, ...withoutHolder } = key(1, "lock-a", "revoked");
    site.cloud.append(withoutHolder);
    await waitFor("fetched again after the revocation", () => site.cloud.stateFetches.length > fetches);
    await bridge.stop();
    bridge = null;
    const db = new Database(join(site.dir.path, "bridge.db"), { readonly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    db.close();
    expect(tables).not.toContain("keys");
    expect(tables).not.toContain("issuers");
    expect(readFileSync(join(site.dir.path, "bridge.db")).includes("+4790000001")).toBe(false);
  });

  it("asks for no state of a lock the feed says is unclaimed, until a claim arrives", async () => {
    siteChanges(site.cloud, []);
    site.cloud.append({
      kind: "lock",
      lockId: "lock-u",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
      claimed: false,
    });
    site.cloud.append({
      kind: "lock",
      lockId: "lock-c",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
      claimed: true,
    });
    ({ bridge } = await site.start());
    await bridge.ready;
    await waitFor("the claimed lock's state fetched", () => site.cloud.stateFetches.includes("lock-c"));
    expect(site.cloud.stateFetches).not.toContain("lock-u");
    site.cloud.append({
      kind: "lock",
      lockId: "lock-u",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
      claimed: true,
    });
    await waitFor("its state fetched once claimed", () => site.cloud.stateFetches.includes("lock-u"));
  });

  it("resumes the change feed from its persisted cursor after a restart", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    await bridge.stop();
    const asked = site.cloud.cursorsAsked.length;
    site.cloud.append({
      kind: "lock",
      lockId: "lock-b",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
    });
    ({ bridge } = await site.start());
    await bridge.ready;
    expect(site.cloud.cursorsAsked[asked]).toBe("c3");
    await waitFor("the lock assigned while away is served", () => site.cloud.stateFetches.includes("lock-b"));
  });

  it("replays the feed from the start when the cloud refuses the cursor", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    await bridge.stop();
    const db = new Database(join(site.dir.path, "bridge.db"));
    db.prepare("UPDATE feed_cursor SET cursor = 'garbage'").run();
    db.close();
    let log: Awaited<ReturnType<typeof startTestBridge>>["log"];
    ({ bridge, log } = await site.start());
    await bridge.ready;
    expect(log.has("change feed refused the cursor; replaying the feed from the start")).toBe(true);
    expect(site.cloud.cursorsAsked.slice(-2)).toContain("");
  });

  it("skips a malformed change without stopping the feed", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    site.cloud.append({
      kind: "lock",
      lockId: "lock/../x",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
    });
    site.cloud.append({
      kind: "action",
      actionId: "act_bad",
      lockId: "lock-a",
      action: "open-sesame",
      expiresAt: "soon",
    });
    site.cloud.append({ kind: "something_new", value: 1 });
    site.cloud.append({
      kind: "lock",
      lockId: "lock-b",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
    });
    let log: Awaited<ReturnType<typeof startTestBridge>>["log"];
    ({ bridge, log } = await site.start());
    await bridge.ready;
    await waitFor("the change after them applied", () => site.cloud.stateFetches.includes("lock-b"));
    expect(log.lines.filter((l) => l.msg === "skipping a malformed change-feed entry")).toHaveLength(2);
    expect(await (await fetch(`${bridge.metricsUrl}/metrics`)).text()).toMatch(
      /latchkey_bridge_feed_changes_rejected_total 2/,
    );
  });
});
