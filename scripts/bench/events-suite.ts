import { pollUntil } from "@latchkey/runtime";
import type { SiteHarness } from "../src/site/index.js";
import { Cleanup } from "./cleanup.js";
import { CloudEventStore } from "./cloud-store.js";
import { claimLocks, connectLocks, LoadLock, lockIds, totalAcked } from "./load-locks.js";
import { cpuPerItem, loadSpan } from "./machine.js";
import { startRawBroker } from "./raw-broker-process.js";
import { type BenchContext, type BenchRow, type BenchSuite, median, type RowSpec, row } from "./rows.js";
import { startBenchBridge, startBenchSite, tempDir } from "./site.js";

/** Every lock is known to the cloud and reported online by the bridge, so none of their events waits for assignment. */
export async function waitForLocksOnline(site: SiteHarness, count: number, timeoutMs = 120_000): Promise<void> {
  await pollUntil(
    `${count} locks online at the cloud`,
    async () => {
      const { locks } = await site.client.listLocks(site.lockHolderId, { limit: 2500 });
      return locks.filter((l) => l.online).length >= count;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

const SPEC: RowSpec = { name: "bridge-events", unit: "events/s", target: "ratio >= 0.5 and >= 5,000/s, none lost" };
// Issue 17 item 1: what bare aedes plus a group-committed SQLite insert per event costs, the same clients, same run.
const FLOOR: RowSpec = {
  name: "bridge-events-floor",
  unit: "events/s",
  target: "ratio >= 0.5 (the bridge's own target is reachable only below this floor)",
};

/**
 * Events/s from simulated locks through the bridge into the cloud, sustained: the locks publish as fast as PUBACKs
 * come back for `windowSeconds`, and the figure is what the cloud stored in that time (counted in its database).
 * Baseline, same run, alternating rounds: the same clients publishing QoS 1 to a bare aedes in its own process.
 */
export const eventsSuite: BenchSuite = {
  id: "events",
  rows: [SPEC, FLOOR],
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const locks = ctx.smoke ? 3 : 100;
    const windowSeconds = ctx.smoke ? 1 : 30;
    const rawSeconds = ctx.smoke ? 1 : 10;
    const rounds = ctx.smoke ? 1 : 3;
    const inFlight = 16;
    const load = loadSpan();
    const cleanup = new Cleanup();
    try {
      const dir = tempDir(cleanup, "events");
      const rawBroker = await startRawBroker(cleanup);
      const floorBroker = await startRawBroker(cleanup, "floor");
      const profile = ctx.profileDir ? { profileDir: ctx.profileDir } : {};
      const { site, cloud } = await startBenchSite(cleanup, dir, "bench-events", profile);
      const bridge = await startBenchBridge(site, profile);
      const runTag = `events-${Date.now()}`;
      const rawLocks = lockIds(locks, "raw-lock").map((id) => new LoadLock(id, rawBroker.url, null, runTag));
      const siteLocks = lockIds(locks, "load-lock").map(
        (id) => new LoadLock(id, bridge.mqttUrl, bridge.siteSecret, runTag),
      );
      const floorLocks = lockIds(locks, "floor-lock").map((id) => new LoadLock(id, floorBroker.url, null, runTag));
      cleanup.add(() => Promise.all([...rawLocks, ...floorLocks, ...siteLocks].map((l) => l.close())));
      await connectLocks(rawLocks, false);
      await connectLocks(floorLocks, false);
      await connectLocks(siteLocks, true);
      await waitForLocksOnline(site, locks);
      await claimLocks(siteLocks, (code) => site.client.claimLock(site.lockHolderId, code));
      const store = new CloudEventStore(cloud.dbPath);
      cleanup.add(() => store.close());

      // Warm-up, not counted: JIT, SQLite page cache, TCP windows.
      const warm = performance.now() + (ctx.smoke ? 200 : 3000);
      await Promise.all(rawLocks.map((l) => l.publish({ window: inFlight, deadline: warm, topic: `raw/${l.lockId}` })));
      const warmFloor = performance.now() + (ctx.smoke ? 200 : 3000);
      await Promise.all(
        floorLocks.map((l) => l.publish({ window: inFlight, deadline: warmFloor, topic: `raw/${l.lockId}` })),
      );
      const warmSite = performance.now() + (ctx.smoke ? 200 : 3000);
      await Promise.all(siteLocks.map((l) => l.publish({ window: inFlight, deadline: warmSite })));
      await store.waitForCount(site.lockHolderId, totalAcked(siteLocks), 120_000);

      const raw: number[] = [];
      const floor: number[] = [];
      const floorRatios: number[] = [];
      let cpuFloor = "";
      const stored: number[] = [];
      const pubacked: number[] = [];
      const drains: number[] = [];
      const ratios: number[] = [];
      let cpuRaw = "";
      let cpuBridge = "";
      for (let round = 1; round <= rounds; round++) {
        ctx.log(`events round ${round}/${rounds}: raw aedes ${rawSeconds} s`);
        const rawBefore = totalAcked(rawLocks);
        const rawCpu = cpuPerItem({ harness: process.pid, aedes: rawBroker.pid });
        let started = performance.now();
        const rawEnd = started + rawSeconds * 1000;
        await Promise.all(
          rawLocks.map((l) => l.publish({ window: inFlight, deadline: rawEnd, topic: `raw/${l.lockId}` })),
        );
        raw.push((totalAcked(rawLocks) - rawBefore) / ((performance.now() - started) / 1000));
        cpuRaw = rawCpu(totalAcked(rawLocks) - rawBefore);

        ctx.log(`events round ${round}/${rounds}: aedes + SQLite group commit (the floor) ${rawSeconds} s`);
        const floorBefore = totalAcked(floorLocks);
        const floorCpu = cpuPerItem({ harness: process.pid, floor: floorBroker.pid });
        started = performance.now();
        const floorEnd = started + rawSeconds * 1000;
        await Promise.all(
          floorLocks.map((l) => l.publish({ window: inFlight, deadline: floorEnd, topic: `raw/${l.lockId}` })),
        );
        floor.push((totalAcked(floorLocks) - floorBefore) / ((performance.now() - started) / 1000));
        floorRatios.push(floor.at(-1)! / raw.at(-1)!);
        cpuFloor = floorCpu(totalAcked(floorLocks) - floorBefore);

        ctx.log(`events round ${round}/${rounds}: through the bridge into the cloud ${windowSeconds} s`);
        const ackedBefore = totalAcked(siteLocks);
        const storedBefore = store.count(site.lockHolderId);
        const siteCpu = cpuPerItem({ harness: process.pid, bridge: bridge.child.pid, cloud: cloud.child.pid });
        started = performance.now();
        const end = started + windowSeconds * 1000;
        await Promise.all(siteLocks.map((l) => l.publish({ window: inFlight, deadline: end })));
        const seconds = (performance.now() - started) / 1000;
        const storedInWindow = store.count(site.lockHolderId) - storedBefore;
        cpuBridge = siteCpu(totalAcked(siteLocks) - ackedBefore);
        stored.push(storedInWindow / seconds);
        pubacked.push((totalAcked(siteLocks) - ackedBefore) / seconds);
        ratios.push(stored.at(-1)! / raw.at(-1)!);
        // The backlog the window left: every acknowledged event must reach the cloud before the next round.
        const drainStart = performance.now();
        const expected = totalAcked(siteLocks);
        await store.waitForCount(site.lockHolderId, expected, 300_000);
        drains.push((performance.now() - drainStart) / 1000);
      }
      const published = totalAcked(siteLocks);
      const atCloud = await (async () => {
        // A late duplicate upload would show here as more than published.
        await pollUntil("the outbox empty", async () => (await bridge.health())?.outbox.items === 0, {
          timeoutMs: 60_000,
          intervalMs: 20,
        });
        return store.count(site.lockHolderId);
      })();
      const value = median(stored);
      const baseline = median(raw);
      const ratio = median(ratios);
      const complete = atCloud === published;
      const floorRatio = median(floorRatios);
      return [
        row(SPEC, {
          value,
          baseline,
          ratio,
          met: ratio >= 0.5 && value >= 5000 && complete,
          note:
            `${locks} lock clients (mqtt.js, claimed, each event a sealed report, ${inFlight} in flight each) → ` +
            `latchkey-bridge (embedded aedes, ` +
            `SQLite outbox synchronous=full) → latchkey-cloud (SQLite), each a process of its own; stored events/s counted ` +
            `in the cloud's database over a ${windowSeconds} s window, median of ${rounds} rounds ` +
            `(${stored.map((s) => s.toFixed(0)).join(", ")}); PUBACKed by the bridge ${median(pubacked).toFixed(0)}/s; ` +
            `backlog left by each window drained in ${drains.map((d) => d.toFixed(1)).join(", ")} s; ` +
            `${published} published, ${atCloud} stored${complete ? "" : " (MISMATCH)"}. Baseline: the same clients (the ` +
            `same sealed reports) QoS 1 to a ` +
            `bare aedes process for ${rawSeconds} s, alternating (${raw.map((s) => s.toFixed(0)).join(", ")}). ` +
            `CPU per event, last round: ${cpuBridge} (through the bridge, in the window); ${cpuRaw} (raw). ` +
            `Of the floor (row bridge-events-floor): ${(ratio / floorRatio).toFixed(2)}. ${load()}`,
        }),
        row(FLOOR, {
          value: median(floor),
          baseline,
          ratio: floorRatio,
          met: floorRatio >= 0.5,
          note:
            `the same ${locks} clients and sealed reports QoS 1 to a bare aedes process whose authorizePublish holds ` +
            `each PUBACK until the message's row is committed (every message of one event-loop turn in one SQLite ` +
            `transaction, WAL, synchronous=FULL: scripts/bench/floor-broker.ts); ${rawSeconds} s per round, ` +
            `alternating with the raw baseline and the bridge, median of ${rounds} ` +
            `(${floor.map((s) => s.toFixed(0)).join(", ")}). CPU per event, last round: ${cpuFloor}. ${load()}`,
        }),
      ];
    } finally {
      await cleanup.run();
    }
  },
};
