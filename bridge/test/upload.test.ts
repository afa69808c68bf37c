import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { siteChanges, startTestBridge } from "./helpers/bridge.js";
import { tempDir } from "./helpers/fixtures.js";
import { MqttLock } from "./helpers/mqtt-lock.js";
import { TestCloud } from "./helpers/test-cloud.js";
import { waitFor } from "./helpers/wait.js";

const metric = async (bridge: RunningBridge, pattern: RegExp) =>
  pattern.test(await (await fetch(`${bridge.metricsUrl}/metrics`)).text());

describe("store-and-forward to the cloud", () => {
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

  const lock = async (id: string) => {
    const l = new MqttLock(id, bridge!.mqttUrl, { autoReport: false });
    locks.push(l);
    await l.connect();
    return l;
  };

  it("uploads events, telemetry and presence, and deletes them only once acknowledged", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    const a = await lock("lock-a");
    for (let i = 1; i <= 10; i++) await a.event({ seq: i, ...(i === 3 ? { type: "denied", code: "expired" } : {}) });
    await a.telemetry({ level: 77 });
    await waitFor("all uploaded", () => cloud.events.size === 10 && bridge!.outbox().items === 0);
    expect([...cloud.events.values()].map((e) => e.seq).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect([...cloud.events.values()].find((e) => e.seq === 3)).toMatchObject({
      type: "denied",
      code: "expired",
      lockId: "lock-a",
    });
    expect([...cloud.telemetry.values()][0]).toMatchObject({ lockId: "lock-a", level: 77, mv: 2900, state: "ok" });
    expect(cloud.presence).toContainEqual(expect.objectContaining({ lockId: "lock-a", online: true }));
  });

  it("keeps everything while the cloud is down and delivers each event once when it is back", async () => {
    siteChanges(cloud, ["lock-a", "lock-b"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    cloud.down = true;
    const [a, b] = [await lock("lock-a"), await lock("lock-b")];
    for (let i = 1; i <= 100; i++) await Promise.all([a.event({ seq: i }), b.event({ seq: i })]);
    // Re-published after a lost PUBACK: the same event id again.
    await a.event({ seq: 7 });
    await waitFor("upload failures", () =>
      metric(bridge!, /latchkey_bridge_upload_batches_total\{result="retry"\} [2-9]/),
    );
    expect(bridge.outbox().items).toBeGreaterThanOrEqual(200);
    expect(cloud.events.size).toBe(0);
    cloud.down = false;
    await waitFor("drained", () => bridge!.outbox().items === 0 && cloud.events.size === 200);
    // The re-published event went up twice and the cloud kept it once (it is idempotent by id).
    expect(cloud.duplicates).toBe(1);
  });

  it("keeps the outbox through a restart while the cloud is down", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    cloud.down = true;
    const a = await lock("lock-a");
    for (let i = 1; i <= 25; i++) await a.event({ seq: i });
    await a.close();
    locks.length = 0;
    await bridge.stop();
    cloud.down = false;
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await waitFor("delivered after the restart", () => cloud.events.size === 25 && bridge!.outbox().items === 0);
  });

  it("finishes the upload in flight when stopped, and deletes what the cloud acknowledged", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    const a = await lock("lock-a");
    await waitFor("presence uploaded", () => cloud.presence.length > 0 && bridge!.outbox().items === 0);
    let release!: () => void;
    cloud.ingestGate = new Promise<void>((r) => (release = r));
    let arrived = false;
    cloud.onIngest = () => {
      arrived = true;
    };
    for (let i = 1; i <= 5; i++) await a.event({ seq: i });
    await waitFor("an upload in flight", () => arrived);
    await a.close();
    locks.length = 0;
    const stopped = bridge.stop();
    release();
    await stopped;
    bridge = null;
    const db = new Database(join(dir.path, "bridge.db"), { readonly: true });
    const left = db.prepare("SELECT kind, body FROM outbox").all() as Array<{ kind: string; body: string }>;
    db.close();
    // What went up in the batch in flight is gone; only what arrived after it (e.g. later presence) may remain.
    const uploadedIds = new Set(cloud.events.keys());
    expect(uploadedIds.size).toBeGreaterThan(0);
    for (const row of left) if (row.kind === "event") expect(uploadedIds.has(JSON.parse(row.body).id)).toBe(false);
  });

  it("isolates an item the cloud refuses and delivers the rest", async () => {
    siteChanges(cloud, ["lock-a", "lock-x"]);
    cloud.servedLocks.delete("lock-x");
    let log: Awaited<ReturnType<typeof startTestBridge>>["log"];
    ({ bridge, log } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    cloud.down = true;
    const a = await lock("lock-a");
    const x = await lock("lock-x");
    for (let i = 1; i <= 8; i++) await a.event({ seq: i });
    await x.event({ seq: 1 });
    cloud.down = false;
    await waitFor("drained", () => bridge!.outbox().items === 0);
    expect(cloud.events.size).toBe(8);
    expect(log.has("the cloud refused an item for good; dropped it from the outbox")).toBe(true);
    expect(await metric(bridge, /latchkey_bridge_outbox_dropped_total\{reason="refused"\} [1-9]/)).toBe(true);
  });

  it("holds items of locks the cloud has not assigned until it does", async () => {
    siteChanges(cloud, ["lock-a"]);
    ({ bridge } = await startTestBridge(cloud, dir.path));
    await bridge.ready;
    const n = await lock("lock-new");
    await n.event({ seq: 1 });
    await n.event({ seq: 2 });
    const a = await lock("lock-a");
    await a.event({ seq: 1 });
    await waitFor("lock-a's event uploaded", () => cloud.events.size === 1);
    expect(bridge.outbox().items).toBeGreaterThanOrEqual(2);
    cloud.append({
      kind: "lock",
      lockId: "lock-new",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
    });
    cloud.servedLocks.add("lock-new");
    await waitFor("held items uploaded", () => cloud.events.size === 3 && bridge!.outbox().items === 0);
  });
});
