import { join } from "node:path";
import { ManualClock, toHex } from "@latchkey/protocol";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { siteChanges, startTestBridge } from "./helpers/bridge.js";
import { tempDir } from "./helpers/fixtures.js";
import { MqttLock } from "./helpers/mqtt-lock.js";
import { TestCloud } from "./helpers/test-cloud.js";
import { waitFor } from "./helpers/wait.js";

const cti = (n: number) => n.toString(16).padStart(32, "0");

describe("cloud sync → lock sync", () => {
  let cloud: TestCloud;
  let dir: ReturnType<typeof tempDir>;
  let bridge: RunningBridge | null = null;
  const locks: MqttLock[] = [];
  const clock = new ManualClock(1_800_000_000_000);

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

  const lock = async (id: string, options: ConstructorParameters<typeof MqttLock>[2] = {}) => {
    const l = new MqttLock(id, bridge!.mqttUrl, options);
    locks.push(l);
    await l.connect();
    return l;
  };

  it("turns keys, revocations and issuer keys into versioned syncs carrying trusted time", async () => {
    siteChanges(cloud, ["lock-a", "lock-b"]);
    cloud.append({
      kind: "key",
      keyId: "k1",
      lockId: "lock-a",
      cti: cti(1),
      sub: "+4790000001",
      nbf: 1_799_000_000,
      exp: 1_801_000_000,
      state: "active",
    });
    ({ bridge } = await startTestBridge(cloud, dir.path, {}, { clock }));
    await bridge.ready;
    const a = await lock("lock-a");
    const first = await waitFor("first sync", () => a.syncs[0]);
    expect(first.v).toBeGreaterThanOrEqual(1);
    expect(first.time).toBe(1_800_000_000);
    expect(first.issuers.map((i) => toHex(i.kid))).toEqual(["a1b2"]);
    expect(first.grants?.map((g) => [toHex(g.cti), g.sub])).toEqual([[cti(1), "+4790000001"]]);
    expect(first.revoked).toEqual([]);

    cloud.append({
      kind: "key",
      keyId: "k1",
      lockId: "lock-a",
      cti: cti(1),
      sub: "+4790000001",
      nbf: 1_799_000_000,
      exp: 1_801_000_000,
      state: "revoked",
    });
    const second = await waitFor("sync with the revocation", () => a.syncs.find((s) => s.revoked.length === 1));
    expect(second.v).toBe(first.v + 1);
    expect(toHex(second.revoked[0]!)).toBe(cti(1));
    expect(second.grants).toEqual([]);

    // A key that expired (past the grace period) is neither granted nor revoked any more.
    cloud.append({
      kind: "key",
      keyId: "k2",
      lockId: "lock-a",
      cti: cti(2),
      sub: "+4790000002",
      nbf: 1,
      exp: 1_700_000_000,
      state: "revoked",
    });
    const third = await waitFor("sync v+2", () => a.syncs.find((s) => s.v === first.v + 2));
    expect(third.revoked.map(toHex)).toEqual([cti(1)]);

    // An issuer key change reaches every lock of the lock holder.
    const b = await lock("lock-b");
    await waitFor("lock-b synced", () => b.syncs[0]);
    cloud.append({ kind: "issuer", lockHolderId: "lh_1", kid: "a1b2", x: "11".repeat(32), retired: true });
    cloud.append({ kind: "issuer", lockHolderId: "lh_1", kid: "c3d4", x: "22".repeat(32), retired: false });
    for (const l of [a, b]) {
      const rotated = await waitFor("rotated issuers", () =>
        l.syncs.find((s) => s.issuers.length === 1 && toHex(s.issuers[0]!.kid) === "c3d4"),
      );
      expect(rotated.v).toBeGreaterThan(1);
    }
  });

  it("re-sends until the lock reports the desired version, then stops", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path, { sync: { resendSeconds: 1 } }));
    await bridge.ready;
    const a = await lock("lock-a", { autoReport: false });
    await waitFor("the same version sent again", () => a.syncs.length >= 2, { timeoutMs: 20_000 });
    expect(new Set(a.syncs.map((s) => s.v)).size).toBe(1);
    const v = a.syncs[0]!.v;
    a.v = v;
    await a.telemetry({ v });
    await waitFor("reported", async () =>
      (await (await fetch(`${bridge!.metricsUrl}/metrics`)).text()).includes("latchkey_bridge_locks_sync_pending 0"),
    );
    // Nothing is pending any more, so the resend timer has nothing to send.
    expect((await bridge.command("lock-a", { type: "ping" })).v).toBe(v);
  });

  it("jumps past a version the lock reports above its own (bridge lost its database)", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    const a = await lock("lock-a", { autoReport: false });
    await waitFor("sync", () => a.syncs[0]);
    a.v = 40;
    await a.telemetry({ v: 40 });
    const next = await waitFor("sync above 40", () => a.syncs.find((s) => s.v > 40));
    expect(next.v).toBe(41);
  });

  it("never follows an impossible reported version to an unsafe integer: it alerts and keeps its own (review 12.5)", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    const a = await lock("lock-a", { autoReport: false });
    const first = await waitFor("sync", () => a.syncs[0]);
    // A lock that claims the largest safe integer: following it would make the next sync's v 2^53, which no lock
    // can decode, so every later sync would be refused.
    await a.telemetry({ v: Number.MAX_SAFE_INTEGER });
    await waitFor("the alert in the bridge's health", () => {
      const versions = bridge!.health().syncVersions as { alerts: number; locks: { lockId: string }[] };
      return versions.alerts === 1 && versions.locks[0]?.lockId === "lock-a";
    });
    const metrics = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/latchkey_bridge_sync_version_alerts_total\{reason="implausible_report"\} 1/);
    cloud.append({
      kind: "key",
      keyId: "k9",
      lockId: "lock-a",
      cti: cti(9),
      sub: "+4790000009",
      nbf: 1_799_000_000,
      exp: 1_801_000_000,
      state: "revoked",
    });
    const next = await waitFor("the next sync", () => a.syncs.find((s) => s.revoked.length > 0));
    expect(next.v).toBe(first.v + 1);
    expect(Number.isSafeInteger(next.v)).toBe(true);
  });

  it("repairs a database where an older bridge followed a report to 2^53: the lock gets safe versions again (review 12.5)", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    const a = await lock("lock-a");
    await waitFor("the first sync applied", () => a.v >= 1 || undefined);
    await a.close();
    locks.length = 0;
    await bridge.stop();
    bridge = null;
    // What the code before review 12.5 left behind: the report recorded, the desired version at 2^53.
    const db = new Database(join(dir.path, "bridge.db"));
    db.prepare("UPDATE locks SET reported_v = ?, desired_v = ? WHERE lock_id = 'lock-a'").run(
      BigInt(Number.MAX_SAFE_INTEGER),
      2n ** 53n,
    );
    db.pragma("user_version = 1");
    db.close();

    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    const again = await lock("lock-a", { autoReport: false });
    again.v = a.v;
    await again.telemetry({ v: a.v });
    cloud.append({
      kind: "key",
      keyId: "k8",
      lockId: "lock-a",
      cti: cti(8),
      sub: "+4790000008",
      nbf: 1_799_000_000,
      exp: 1_801_000_000,
      state: "revoked",
    });
    const next = await waitFor("a sync above the lock's version", () => again.syncs.find((s) => s.v > a.v));
    expect(next.revoked.map(toHex)).toEqual([cti(8)]);
    expect(next.v).toBeLessThan(1000);
  });

  it("resumes the change feed from its persisted cursor after a restart", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    await bridge.stop();
    const asked = cloud.cursorsAsked.length;
    cloud.append({
      kind: "key",
      keyId: "k9",
      lockId: "lock-a",
      cti: cti(9),
      sub: "+4790000009",
      nbf: 1,
      exp: 2_000_000_000,
      state: "active",
    });
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    expect(cloud.cursorsAsked[asked]).toBe("c3");
    const a = await lock("lock-a");
    const sync = await waitFor("sync with the new key", () => a.syncs.find((s) => s.grants?.length === 1));
    expect(toHex(sync.grants![0]!.cti)).toBe(cti(9));
  });

  it("replays the feed from the start when the cloud refuses the cursor", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    await bridge.stop();
    const { default: Database } = await import("better-sqlite3");
    const db = new Database(`${dir.path}/bridge.db`);
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
      kind: "key",
      keyId: "bad",
      lockId: "lock-a",
      cti: "not-hex",
      sub: "x",
      nbf: 1,
      exp: 2,
      state: "active",
    });
    cloud.append({ kind: "something_new", value: 1 });
    cloud.append({
      kind: "key",
      keyId: "k5",
      lockId: "lock-a",
      cti: cti(5),
      sub: "+4790000005",
      nbf: 1,
      exp: 2_000_000_000,
      state: "active",
    });
    let log: Awaited<ReturnType<typeof startTestBridge>>["log"];
    ({ bridge, log } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    const a = await lock("lock-a");
    const sync = await waitFor("sync", () => a.syncs[0]);
    expect(sync.grants?.map((g) => toHex(g.cti))).toEqual([cti(5)]);
    expect(log.has("skipping a malformed change-feed entry")).toBe(true);
    expect(await (await fetch(`${bridge.metricsUrl}/metrics`)).text()).toMatch(
      /latchkey_bridge_feed_changes_rejected_total 1/,
    );
  });
});
