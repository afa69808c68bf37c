import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { SimLock } from "@latchkey/lock-sim";
import { pollUntil } from "@latchkey/scripts";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { TestBroker } from "../src/reliability/broker.js";
import { expectEveryEventOnce } from "../src/reliability/delivery.js";
import { deniedAttempt } from "../src/reliability/events.js";
import { metricValue, scrape } from "../src/reliability/metrics.js";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { ReliabilitySite } from "../src/reliability/site.js";

/**
 * The bridge process's storage and broker fail under it: its SQLite file locked by another process, the disk full, the
 * broker restarted. The bridge process must keep running, refuse what it cannot store (the lock or the broker keeps
 * it), and recover by itself: every event delivered once, none lost.
 */
const file = new ReliabilityFile("bridge-process-faults");
const { tally, logs, secrets } = file;

let attempt = 0;
const attempts = (locks: SimLock[], perLock: number) => {
  for (const lock of locks) for (let i = 0; i < perLock; i++) deniedAttempt(lock, attempt++);
};

const expectAllDelivered = (site: ReliabilitySite, locks: SimLock[]) =>
  expectEveryEventOnce(site, locks, tally, 20_000);

/**
 * A lock on an external broker: the broker's PUBACK frees nothing (only a signed ack does), and the lock sends an event
 * again `resendSeconds` after that PUBACK while no ack covers it. A restarted broker may hand the bridge the copies it
 * kept after the ones the locks re-sealed at their reconnect, and the cloud answers those `replayed` (a counter below
 * one it accepted): the events then wait for that re-send, 600 s by default, 2 s here.
 */
const ON_EXTERNAL_BROKER = { resendSeconds: 2 };

/** The locks assigned to the bridge in the cloud, each running its signed state and time (it seals reports). */
async function assigned(site: ReliabilitySite, locks: SimLock[]): Promise<void> {
  await pollUntil(
    "the locks assigned to the bridge",
    async () => (await site.client.listLocks(site.lockHolderId)).locks.length === locks.length,
    { timeoutMs: 60_000 },
  );
  for (const lock of locks) await site.waitForTrust(lock);
}

/** Another process holds the write lock of the bridge's database (BEGIN EXCLUSIVE) until `release`. */
function lockDatabase(path: string): { release(): void } {
  const holder = new Database(path);
  holder.pragma("busy_timeout = 10000");
  holder.exec("BEGIN EXCLUSIVE");
  tally.fault();
  return {
    release() {
      holder.exec("COMMIT");
      holder.close();
    },
  };
}

describe("the bridge's SQLite file locked by another process", () => {
  it("embedded broker: writes wait, then refuse (the locks keep their events); all delivered once the lock goes", async () => {
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "locked-embedded" });
    const bridge = await site.startBridgeProcess();
    await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    const locks = [await site.startLock("locked-lock-0"), await site.startLock("locked-lock-1")];
    await assigned(site, locks);
    attempts(locks, 3);
    await expectAllDelivered(site, locks);

    const held = lockDatabase(site.bridgeDbPath);
    try {
      attempts(locks, 5);
      // Past its busy timeout the bridge refuses the message: no PUBACK, the lock is disconnected and keeps it.
      await locks[0]!.waitFor((l) => !l.connected, "the bridge to refuse what it cannot store", { timeoutMs: 60_000 });
      expect(locks[0]!.undelivered).toBeGreaterThan(0);
      tally.refuse();
    } finally {
      held.release();
    }
    expect(bridge.child.running).toBe(true);
    await expectAllDelivered(site, locks);
    const health = await fetch(`${site.metricsUrl}/healthz`);
    expect(health.status).toBe(200);
  });

  it("external broker: a message the bridge cannot store is left with the broker, never acknowledged and dropped", async () => {
    const broker = new TestBroker();
    await broker.start();
    file.resources.defer("stop the test broker", () => broker.stop());
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "locked-external" });
    const bridge = await site.startBridgeProcess({ mqtt: { broker: "external", url: broker.url } });
    await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    const locks = [
      await site.startLock("xlocked-lock-0", { mqttUrl: broker.url, ...ON_EXTERNAL_BROKER }),
      await site.startLock("xlocked-lock-1", { mqttUrl: broker.url, ...ON_EXTERNAL_BROKER }),
    ];
    await assigned(site, locks);
    attempts(locks, 3);
    await expectAllDelivered(site, locks);

    const since = bridge.child.lineCount;
    const held = lockDatabase(site.bridgeDbPath);
    try {
      attempts(locks, 5);
      const failed = await bridge.child.waitForLine(
        "the bridge to fail storing a message",
        (l) => l.record?.part === "broker" && l.record.level === 40,
        { since, timeoutMs: 60_000 },
      );
      tally.refuse();
      void failed;
    } finally {
      held.release();
    }
    expect(bridge.child.running).toBe(true);
    await expectAllDelivered(site, locks);
  });
});

describe("the disk fills up under the bridge", () => {
  it("no file may grow: the bridge refuses what it cannot store, keeps running, and catches up once there is room", async () => {
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "diskfull" });
    const bridge = await site.startBridgeProcess();
    await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    const locks = [await site.startLock("full-lock-0"), await site.startLock("full-lock-1")];
    await assigned(site, locks);
    attempts(locks, 3);
    await expectAllDelivered(site, locks);

    // The disk is now full: no file of the bridge may grow by more than a little.
    const files = ["bridge.db", "bridge.db-wal", "broker.db", "broker.db-wal"].map((f) => join(site.dir, "bridge", f));
    const largest = Math.max(...files.map((f) => (existsSync(f) ? statSync(f).size : 0)));
    await site.limitBridgeFileSize(largest + 16 * 1024);
    tally.fault();
    for (let round = 0; round < 50 && bridge.child.running; round++) {
      attempts(locks, 10);
      const delivered = await Promise.race([
        Promise.all(locks.map((l) => l.waitForDelivered({ timeoutMs: 3_000 }))).then(
          () => true,
          () => false,
        ),
        bridge.child.waitForExit().then(() => false),
      ]);
      if (!delivered) break;
    }
    expect(bridge.child.running, `the bridge died: ${bridge.child.tail().join("\n")}`).toBe(true);
    expect(
      locks.some((l) => l.undelivered > 0),
      "the disk filled up: the locks keep what the bridge could not store",
    ).toBe(true);
    const metrics = await scrape(site.metricsUrl);
    const refused = metricValue(metrics, "latchkey_bridge_outbox_store_errors_total");
    expect(refused, "refusals counted").toBeGreaterThan(0);
    tally.refuse(refused);

    await site.limitBridgeFileSize("unlimited");
    await expectAllDelivered(site, locks);
  });
});

describe("the broker restarts", () => {
  it("embedded broker (the bridge restarted while locks report): the locks keep their events and deliver them after", async () => {
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "restart-embedded" });
    let bridge = await site.startBridgeProcess();
    await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    const locks = [await site.startLock("restart-lock-0"), await site.startLock("restart-lock-1")];
    await assigned(site, locks);
    for (let round = 0; round < 3; round++) {
      attempts(locks, 10);
      expect(await site.stopBridgeProcess(), "a graceful stop").toBe(0);
      tally.fault();
      attempts(locks, 10);
      bridge = await site.startBridgeProcess();
    }
    attempts(locks, 10);
    await expectAllDelivered(site, locks);
    expect(bridge.child.running).toBe(true);
  });

  it("external broker restarted under the bridge: it reconnects by itself and nothing is lost", async () => {
    const broker = new TestBroker();
    await broker.start();
    file.resources.defer("stop the test broker", () => broker.stop());
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "restart-external" });
    const bridge = await site.startBridgeProcess({ mqtt: { broker: "external", url: broker.url } });
    await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    const locks = [
      await site.startLock("xrestart-lock-0", { mqttUrl: broker.url, ...ON_EXTERNAL_BROKER }),
      await site.startLock("xrestart-lock-1", { mqttUrl: broker.url, ...ON_EXTERNAL_BROKER }),
    ];
    await assigned(site, locks);
    for (let round = 0; round < 3; round++) {
      attempts(locks, 10);
      const since = bridge.child.lineCount;
      await broker.restart();
      tally.fault();
      attempts(locks, 10);
      await bridge.child.waitForLog("connected to the external mqtt broker", () => true, { since, timeoutMs: 30_000 });
    }
    attempts(locks, 10);
    await expectAllDelivered(site, locks);
    expect(bridge.child.running).toBe(true);
    const replayed = metricValue(await scrape(site.metricsUrl), "latchkey_bridge_reports_refused_total", {
      verdict: "replayed",
    });
    tally.note("external broker restarts: old copies the cloud answered replayed (their events sent again)", replayed);
  });
});
