import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Backoff } from "@latchkey/runtime";
import Database from "better-sqlite3";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { CloudClient } from "../src/cloud/client.js";
import type { RunningBridge } from "../src/index.js";
import { BridgeMetrics } from "../src/ops/metrics.js";
import { Outbox } from "../src/outbox/outbox.js";
import { openDatabase } from "../src/store/database.js";
import { BRIDGE_MIGRATIONS } from "../src/store/schema.js";
import { WriteBatcher } from "../src/store/write-batcher.js";
import { laneOf, Uploader } from "../src/uploader/uploader.js";
import { siteChanges } from "./helpers/bridge.js";
import type { LogCapture } from "./helpers/fixtures.js";
import { seededRandom, tempDir } from "./helpers/fixtures.js";
import { MqttLock } from "./helpers/mqtt-lock.js";
import { bridgeSiteEach } from "./helpers/site-each.js";
import { TestCloud } from "./helpers/test-cloud.js";
import { waitFor } from "./helpers/wait.js";

const metrics = async (bridge: RunningBridge) => (await fetch(`${bridge.metricsUrl}/metrics`)).text();
const metric = async (bridge: RunningBridge, pattern: RegExp) => pattern.test(await metrics(bridge));
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/**
 * Store-and-forward of sealed reports (docs/bridge-api.md "Reports from the lock"): the raw bytes to the outbox before
 * the PUBACK, up to `POST /bridge/v1/reports` with the lock's keys, out of the outbox on the cloud's verdict, whatever
 * it is; presence to `/bridge/v1/ingest`. The stand-in cloud judges with protocol under its own report key.
 */
describe("store-and-forward to the cloud", () => {
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;

  const lock = site.lock;

  it("carries reports byte for byte with the lock's keys, and presence to the ingest", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const a = await lock("lock-a");
    for (let i = 1; i <= 10; i++) await a.event({ seq: i, ...(i === 3 ? { type: "denied", code: "expired" } : {}) });
    await a.telemetry({ level: 77 });
    await waitFor("all judged", () => site.cloud.events.size === 10 && bridge!.outbox().items === 0);
    expect([...site.cloud.events.values()].map((e) => e.event.seq).sort((x, y) => x - y)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    expect([...site.cloud.events.values()].find((e) => e.event.seq === 3)?.event).toMatchObject({
      type: "denied",
      code: "expired",
    });
    expect(site.cloud.telemetry[0]).toMatchObject({ lock: "lock-a", level: 77, mv: 2900, state: "ok" });
    expect(site.cloud.presence).toContainEqual(expect.objectContaining({ lockId: "lock-a", online: true }));
    // Exactly the bytes the lock published, in its order, each with the keys it published.
    expect(site.cloud.reportItems.map((i) => hex(i.report))).toEqual(a.sent.map(hex));
    for (const item of site.cloud.reportItems)
      expect(item.keys).toEqual({ identity: b64(a.keys.identity), x25519: b64(a.keys.x25519) });
    expect(site.cloud.verdicts).toEqual({ ok: 11 });
    expect(await metric(bridge, /latchkey_bridge_uploaded_total\{kind="event"\} 10/)).toBe(true);
    expect(await metric(bridge, /latchkey_bridge_uploaded_total\{kind="telemetry"\} 1/)).toBe(true);
  });

  it("carries a forged report like any other (it cannot tell), and counts the cloud's refusal", async () => {
    // lock-e shares lock-a's upload lane (laneOf), so the honest and the forged items can be in one batch.
    siteChanges(site.cloud, ["lock-a", "lock-e"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const a = await lock("lock-a");
    await a.event({ seq: 1 });
    await waitFor("lock-a's keys pinned by its first report", () => site.cloud.verdicts.ok === 1);
    // A courier that holds lock-a's MQTT login but not its report key: its report is shaped like lock-a's.
    const forger = await lock("lock-a", { reportKey: randomBytes(32) });
    forger.ctr = 1;
    // One batch: the forged item among honest ones (the cloud is away while they queue).
    site.cloud.down = true;
    await forger.event({ seq: 2 });
    const honest = await lock("lock-e");
    await honest.event({ seq: 1 });
    await honest.event({ seq: 2 });
    const batches = site.cloud.reportBatches;
    site.cloud.down = false;
    await waitFor("judged", () => site.cloud.verdicts.forged === 1 && site.cloud.verdicts.ok === 3);
    await waitFor("nothing left", () => bridge!.outbox().items === 0);
    expect(site.cloud.reportBatches).toBe(batches + 1);
    // Carried as is: the cloud received the forger's exact bytes.
    expect(site.cloud.reportItems.map((i) => hex(i.report))).toContain(hex(forger.sent[0]!));
    expect(await metric(bridge, /latchkey_bridge_reports_refused_total\{verdict="forged"\} 1/)).toBe(true);
    expect(bridge.health().upload).toMatchObject({ reportsRefused: { forged: 1 } });
  });

  it("keeps reports in the outbox until the cloud answers them, and a report sent twice is a duplicate", async () => {
    siteChanges(site.cloud, ["lock-a", "lock-b"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    site.cloud.down = true;
    const [a, b] = [await lock("lock-a"), await lock("lock-b")];
    for (let i = 1; i <= 100; i++) await Promise.all([a.event({ seq: i }), b.event({ seq: i })]);
    // Re-published after a lost PUBACK: the very same bytes again.
    await a.publish("events", a.sent[6]!);
    await waitFor("upload failures", () =>
      metric(bridge!, /latchkey_bridge_upload_batches_total\{result="retry"\} [2-9]/),
    );
    expect(bridge.outbox().items).toBeGreaterThanOrEqual(201);
    expect(site.cloud.events.size).toBe(0);
    // Back, but answering without a verdict per item: nothing leaves the outbox.
    site.cloud.down = false;
    site.cloud.brokenReportAnswers = 2;
    await waitFor("the broken answers spent", () => site.cloud.brokenReportAnswers === 0);
    expect(site.cloud.events.size).toBe(0);
    expect(bridge.outbox().items).toBeGreaterThanOrEqual(201);
    await waitFor("drained", () => bridge!.outbox().items === 0 && site.cloud.events.size === 200);
    expect(site.cloud.verdicts).toMatchObject({ ok: 200, duplicate: 1 });
    expect(await metric(bridge, /latchkey_bridge_upload_duplicates_total\{kind="event"\} 1/)).toBe(true);
    expect(await metric(bridge, /^latchkey_bridge_reports_refused_total\{/m)).toBe(false);
  });

  it("keeps the outbox through a restart while the cloud is down", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    site.cloud.down = true;
    const a = await lock("lock-a");
    for (let i = 1; i <= 25; i++) await a.event({ seq: i });
    await a.close();
    await bridge.stop();
    site.cloud.down = false;
    ({ bridge } = await site.start());
    await waitFor("delivered after the restart", () => site.cloud.events.size === 25 && bridge!.outbox().items === 0);
    expect(site.cloud.reportItems.map((i) => hex(i.report))).toEqual(a.sent.map(hex));
  });

  it("finishes the upload in flight when stopped, and deletes what the cloud answered", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const a = await lock("lock-a");
    await waitFor("presence uploaded", () => site.cloud.presence.length > 0 && bridge!.outbox().items === 0);
    let release!: () => void;
    site.cloud.reportsGate = new Promise<void>((r) => (release = r));
    let arrived = false;
    site.cloud.onReports = () => {
      arrived = true;
    };
    for (let i = 1; i <= 5; i++) await a.event({ seq: i });
    await waitFor("an upload in flight", () => arrived);
    await a.close();
    const stopped = bridge.stop();
    release();
    await stopped;
    bridge = null;
    const db = new Database(join(site.dir.path, "bridge.db"), { readonly: true });
    const left = db.prepare("SELECT kind, report FROM outbox").all() as Array<{ kind: string; report: Buffer | null }>;
    db.close();
    // What went up in the batch in flight is gone; only what arrived after it (e.g. later presence) may remain.
    const judged = new Set(site.cloud.reportItems.map((i) => hex(i.report)));
    expect(judged.size).toBeGreaterThan(0);
    for (const row of left) if (row.report) expect(judged.has(hex(row.report))).toBe(false);
  });

  it("sends another lane's locks while a batch waits for the cloud, never a lock of the batch in flight", async () => {
    // lock-a and lock-b are in different lanes (laneOf), lock-c in lock-a's.
    expect([laneOf("lock-a", 2), laneOf("lock-b", 2), laneOf("lock-c", 2)]).toEqual([0, 1, 0]);
    siteChanges(site.cloud, ["lock-a", "lock-b", "lock-c"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const [a, b, c] = [await lock("lock-a"), await lock("lock-b"), await lock("lock-c")];
    await waitFor("presence uploaded", () => site.cloud.presence.length >= 3 && bridge!.outbox().items === 0);
    let release!: () => void;
    site.cloud.reportsGate = new Promise<void>((r) => (release = r));
    let arrived = 0;
    const batches = site.cloud.reportBatches;
    site.cloud.onReports = () => arrived++;
    await a.event({ seq: 1 });
    await waitFor("lock-a's batch held by the cloud", () => arrived === 1);
    await b.event({ seq: 1 });
    await waitFor("lock-b's batch sent beside it", () => arrived === 2);
    // Both lanes wait for the cloud: lock-a's next report and lock-c's (lock-a's lane) stay in the outbox, so the
    // cloud sees each lock's reports in order (one out of order would be judged `replayed`).
    await a.event({ seq: 2 });
    await c.event({ seq: 1 });
    await b.event({ seq: 2 });
    expect(bridge.outbox().items).toBe(5);
    expect(arrived).toBe(2);
    release();
    site.cloud.reportsGate = null;
    await waitFor("all judged", () => site.cloud.verdicts.ok === 5 && bridge!.outbox().items === 0);
    // Then one batch per lane: lock-a's and lock-c's together, lock-b's.
    expect(site.cloud.reportBatches).toBe(batches + 4);
    for (const l of [a, b, c])
      expect(site.cloud.reportItems.filter((i) => i.lockId === l.lockId).map((i) => hex(i.report))).toEqual(
        l.sent.map(hex),
      );
    expect(site.cloud.verdicts).toEqual({ ok: 5 });
  });

  it("holds a stored report's PUBACK while the upload delivers behind more than upload.backpressureItems, never while the cloud fails", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start({ upload: { lanes: 1, backpressureItems: 1 } }));
    await bridge.ready;
    const a = await lock("lock-a");
    await waitFor("presence uploaded", () => site.cloud.presence.length >= 1 && bridge!.outbox().items === 0);
    const holds = async () =>
      Number(/latchkey_bridge_upload_backpressure_holds_total (\d+)/.exec(await metrics(bridge!))?.[1] ?? Number.NaN);
    let arrived = 0;
    site.cloud.onReports = () => arrived++;
    let release1!: () => void;
    site.cloud.reportsGate = new Promise<void>((r) => (release1 = r));
    await a.event({ seq: 1 });
    await waitFor("the first batch at the cloud", () => arrived === 1);
    // Nothing delivered yet in this round: a backlog above the bound holds no PUBACK.
    await a.event({ seq: 2 });
    await a.event({ seq: 3 });
    expect(await holds()).toBe(0);
    let release2!: () => void;
    site.cloud.reportsGate = new Promise<void>((r) => (release2 = r));
    release1();
    await waitFor("the second batch at the cloud", () => arrived === 2);
    // A batch was delivered and 2 items wait (> 1): the next report is stored at once, its PUBACK waits.
    let acked = false;
    const fourth = a.event({ seq: 4 }).then(() => {
      acked = true;
    });
    await waitFor("the fourth report stored", () => bridge!.outbox().items === 3);
    await waitFor("its PUBACK held", async () => (await holds()) === 1);
    release2();
    site.cloud.reportsGate = null;
    await fourth;
    expect(acked).toBe(true);
    await waitFor("all judged", () => site.cloud.verdicts.ok === 4 && bridge!.outbox().items === 0);
    // While the cloud fails, the outbox buffers: every PUBACK goes at once, however long the backlog.
    site.cloud.down = true;
    for (let i = 5; i <= 8; i++) await a.event({ seq: i });
    await waitFor("a failed upload", () =>
      metric(bridge!, /latchkey_bridge_upload_batches_total\{result="retry"\} [1-9]/),
    );
    for (let i = 9; i <= 12; i++) await a.event({ seq: i });
    expect(await holds()).toBe(1);
    site.cloud.down = false;
    await waitFor("drained", () => site.cloud.verdicts.ok === 12 && bridge!.outbox().items === 0);
    // In the lock's order, each once.
    expect(site.cloud.reportItems.filter((i) => i.lockId === "lock-a").map((i) => hex(i.report))).toEqual(
      a.sent.map(hex),
    );
  });

  it("isolates an item the cloud refuses and delivers the rest", async () => {
    siteChanges(site.cloud, ["lock-a", "lock-x"]);
    site.cloud.servedLocks.delete("lock-x");
    let log: LogCapture;
    ({ bridge, log } = await site.start());
    await bridge.ready;
    site.cloud.down = true;
    const a = await lock("lock-a");
    // lock-x's presence is refused (400: not served); its report is judged `unclaimed`.
    const x = await lock("lock-x");
    for (let i = 1; i <= 8; i++) await a.event({ seq: i });
    await x.event({ seq: 1 });
    site.cloud.down = false;
    await waitFor("drained", () => bridge!.outbox().items === 0);
    expect(site.cloud.events.size).toBe(8);
    expect(site.cloud.verdicts).toMatchObject({ ok: 8, unclaimed: 1 });
    expect(log.has("the cloud refused an item for good; dropped it from the outbox")).toBe(true);
    expect(await metric(bridge, /latchkey_bridge_outbox_dropped_total\{reason="refused"\} [1-9]/)).toBe(true);
    expect(await metric(bridge, /latchkey_bridge_reports_refused_total\{verdict="unclaimed"\} 1/)).toBe(true);
  });

  it("holds items of locks the cloud has not assigned until it does", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const n = await lock("lock-new");
    await n.event({ seq: 1 });
    await n.event({ seq: 2 });
    const a = await lock("lock-a");
    await a.event({ seq: 1 });
    await waitFor("lock-a's event judged", () => site.cloud.events.size === 1);
    expect(bridge.outbox().items).toBeGreaterThanOrEqual(2);
    site.cloud.append({
      kind: "lock",
      lockId: "lock-new",
      vendorConnectionId: "vc_1",
      lockHolderId: "lh_1",
      removed: false,
    });
    site.cloud.servedLocks.add("lock-new");
    await waitFor("held items judged", () => site.cloud.events.size === 3 && bridge!.outbox().items === 0);
  });

  it("fetches a lock's state again after its reports are accepted, at most once per 10 s", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const a = await lock("lock-a");
    // The fetches of the start and of the lock's connection are done first.
    await waitFor("connected and fetched", () => site.cloud.stateFetches.filter((id) => id === "lock-a").length >= 2);
    await waitFor("presence up", () => bridge!.outbox().items === 0);
    const before = site.cloud.stateFetches.length;
    const started = Date.now();
    for (let i = 1; i <= 20; i++) {
      await a.event({ seq: i });
      await waitFor(`report ${i} judged`, () => site.cloud.events.size === i);
    }
    await waitFor("the new ack fetched", () => site.cloud.stateFetches.length > before);
    const elapsed = Date.now() - started;
    // Twenty accepted batches: one fetch at once, then at most one per 10 s that passed.
    expect(site.cloud.stateFetches.length - before).toBeLessThanOrEqual(1 + Math.ceil(elapsed / 10_000));
    expect(site.cloud.stateFetches.slice(before).every((id) => id === "lock-a")).toBe(true);
  });
});

describe("what moves a lock's ack", () => {
  it("fetches the state again for an accepted event, not for telemetry or a state_applied event", async () => {
    const cloud = new TestCloud();
    await cloud.start();
    cloud.servedLocks.add("lock-a");
    const dir = tempDir();
    const db = openDatabase(join(dir.path, "bridge.db"), { synchronous: "normal", migrations: BRIDGE_MIGRATIONS });
    db.prepare("INSERT INTO locks (lock_id, assigned) VALUES ('lock-a', 1)").run();
    const silent = pino({ level: "silent" });
    const metrics = new BridgeMetrics();
    const clock = { now: () => Date.now() };
    const outbox = new Outbox(
      db,
      new WriteBatcher(db),
      { maxItems: 100, maxBytes: 1_000_000, maxAgeHours: 1, fullPolicy: "refuse" },
      clock,
      metrics,
      silent,
    );
    const accepted: string[][] = [];
    const lock = new MqttLock("lock-a", "mqtt://unused");
    const uploader = new Uploader(
      outbox,
      new CloudClient({
        url: cloud.url,
        bridgeId: cloud.bridgeId,
        secret: cloud.secret,
        timeoutMs: 5000,
        logger: silent,
      }),
      new Backoff(10, 100, seededRandom()),
      { batchSize: 100, maxBatchBytes: 900_000 },
      metrics,
      silent,
      () => clock.now(),
      { isUploadable: () => true, keysOf: () => lock.keys, accepted: (ids) => accepted.push([...ids]) },
    );
    try {
      uploader.start();
      // A state applied, and a battery reading: the cloud takes them, but nothing waits on their ack.
      await outbox.add({ kind: "event", lockId: "lock-a", report: lock.sealEvent({ type: "state_applied", v: 7 }) });
      await outbox.add({ kind: "telemetry", lockId: "lock-a", report: lock.sealTelemetry() });
      // Out of the outbox means answered: the same synchronous step then called the hook, if at all.
      await waitFor("judged and answered", () => cloud.verdicts.ok === 2 && outbox.size.items === 0);
      expect(accepted).toEqual([]);
      await outbox.add({ kind: "event", lockId: "lock-a", report: lock.sealEvent({ type: "unlocked" }) });
      await waitFor("the unlock answered", () => cloud.verdicts.ok === 3 && outbox.size.items === 0);
      expect(accepted).toEqual([["lock-a"]]);
    } finally {
      await uploader.stop();
      db.close();
      dir.remove();
      await cloud.stop();
    }
  });
});
