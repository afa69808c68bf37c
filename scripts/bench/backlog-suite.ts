import { pollUntil } from "@latchkey/runtime";
import { Cleanup } from "./cleanup.js";
import { CloudEventStore } from "./cloud-store.js";
import { waitForLocksOnline } from "./events-suite.js";
import { claimLocks, connectLocks, LoadLock, lockIds, totalAcked } from "./load-locks.js";
import { cpuPerItem, loadSpan } from "./machine.js";
import { type BenchContext, type BenchRow, type BenchSuite, type RowSpec, row } from "./rows.js";
import { startBenchBridge, startBenchSite, tempDir } from "./site.js";

const SPEC: RowSpec = { name: "backlog-drain", unit: "s", target: "<= 30 s, 0 lost, 0 duplicated" };

/**
 * Backlog drain: the cloud stops (SIGTERM); simulated locks publish 100,000 events, which the bridge acknowledges
 * only once they are in its outbox; the cloud starts again on the same data and port, and the figure is the time
 * from its start until the last event is stored. Then every expected event id is looked up in the cloud's database:
 * lost = expected but absent, duplicated = stored more than once for the same lock and seq.
 */
export const backlogSuite: BenchSuite = {
  id: "backlog",
  rows: [SPEC],
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const locks = ctx.smoke ? 2 : 100;
    const perLock = ctx.smoke ? 100 : 1000;
    const total = locks * perLock;
    const load = loadSpan();
    const cleanup = new Cleanup();
    try {
      const dir = tempDir(cleanup, "backlog");
      const profile = ctx.profileDir ? { profileDir: ctx.profileDir } : {};
      const { site, cloud } = await startBenchSite(cleanup, dir, "bench-backlog", profile);
      const bridge = await startBenchBridge(site, profile);
      const runTag = `backlog-${Date.now()}`;
      const siteLocks = lockIds(locks, "backlog-lock").map(
        (id) => new LoadLock(id, bridge.mqttUrl, bridge.siteSecret, runTag),
      );
      cleanup.add(() => Promise.all(siteLocks.map((l) => l.close())));
      await connectLocks(siteLocks, true);
      await waitForLocksOnline(site, locks);
      await claimLocks(siteLocks, (code) => site.client.claimLock(site.lockHolderId, code));
      await pollUntil("the bridge's outbox empty", async () => (await bridge.health())?.outbox.items === 0, {
        timeoutMs: 120_000,
        intervalMs: 20,
      });

      const stopping = performance.now();
      await cloud.stop();
      ctx.log(`cloud stopped (SIGTERM, ${((performance.now() - stopping) / 1000).toFixed(1)} s); filling the outbox`);
      const fillStarted = performance.now();
      await Promise.all(siteLocks.map((l) => l.publish({ window: 16, count: perLock })));
      const fillSeconds = (performance.now() - fillStarted) / 1000;
      const buffered = (await bridge.health())?.outbox.items ?? 0;
      if (totalAcked(siteLocks) !== total) throw new Error(`only ${totalAcked(siteLocks)} of ${total} acknowledged`);

      ctx.log(`${buffered} items buffered in ${fillSeconds.toFixed(1)} s; starting the cloud again`);
      const cpu = cpuPerItem({ bridge: bridge.child.pid });
      const started = performance.now();
      await cloud.start();
      const listening = (performance.now() - started) / 1000;
      const cloudCpu = cpuPerItem({ cloud: cloud.child.pid });
      const store = new CloudEventStore(cloud.dbPath);
      cleanup.add(() => store.close());
      let firstStored: number | null = null;
      const firstSeen = pollUntil(
        "the first event at the cloud",
        () => {
          if (store.count(site.lockHolderId) === 0) return false;
          firstStored = (performance.now() - started) / 1000;
          return true;
        },
        { timeoutMs: 300_000, intervalMs: 25 },
      );
      await store.waitForCount(site.lockHolderId, total, 300_000);
      await firstSeen;
      const drained = (performance.now() - started) / 1000;
      const cpuNote = `${cpu(total)}, ${cloudCpu(total)}`;

      await pollUntil("the bridge's outbox empty", async () => (await bridge.health())?.outbox.items === 0, {
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      const stored = store.events(site.lockHolderId);
      const ids = new Set(stored.map((e) => e.id));
      const lockSeqs = new Set(stored.map((e) => `${e.lockId}/${e.seq}`));
      let lost = 0;
      for (const lock of siteLocks)
        for (let seq = 1; seq <= lock.seq; seq++) if (!ids.has(lock.eventId(seq).toString("hex"))) lost++;
      const duplicated = stored.length - lockSeqs.size;
      const extra = stored.length - total - duplicated;
      return [
        row(SPEC, {
          value: drained,
          baseline: null,
          ratio: null,
          met: drained <= 30 && lost === 0 && duplicated === 0 && extra === 0,
          note:
            `${total} events from ${locks} lock clients buffered in the bridge's outbox (${buffered} items, filled in ` +
            `${fillSeconds.toFixed(1)} s = ${(total / fillSeconds).toFixed(0)}/s) while the cloud was stopped; timed ` +
            `from the cloud's restart (listening after ${listening.toFixed(2)} s, first event stored after ` +
            `${(firstStored ?? Number.NaN).toFixed(2)} s) until all were in its database. Lost ${lost}, duplicated ` +
            `${duplicated}, unexpected ${extra}. CPU per event: ${cpuNote}. One round (it takes the longest). ${load()}`,
        }),
      ];
    } finally {
      await cleanup.run();
    }
  },
};
