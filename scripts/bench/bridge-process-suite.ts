import { type BridgeMemoryResult, benchBridgeMemory } from "@latchkey/bridge/bench";
import { Cleanup } from "./cleanup.js";
import { loadSpan } from "./machine.js";
import { type BenchContext, type BenchRow, type BenchSuite, median, type RowSpec, row } from "./rows.js";
import { bridgeBenchSite, startBenchSite, tempDir } from "./site.js";

const IDLE: RowSpec = { name: "bridge-rss-idle", unit: "MB", target: "<= 70 MB" };
const LOADED: RowSpec = { name: "bridge-rss-1000-locks", unit: "MB", target: "<= 120 MB" };
const COLD: RowSpec = { name: "bridge-cold-start", unit: "ms", target: "<= 1,000 ms" };

/**
 * The bridge as its own process (bridge's `benchBridgeMemory`: the built `latchkey-bridge` spawned with a fresh data
 * directory against a running cloud): cold start = spawn until /healthz says the change feed was read to its end;
 * RSS (the bridge's own `process_resident_memory_bytes`, so nothing of this harness) once ready and idle, and with
 * 1,000 lock clients connected, online and assigned at the cloud. A fresh bridge per round.
 */
export const bridgeProcessSuite: BenchSuite = {
  id: "bridge-process",
  rows: [IDLE, LOADED, COLD],
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rounds = ctx.smoke ? 1 : 3;
    const locks = ctx.smoke ? 5 : 1000;
    const load = loadSpan();
    const results: BridgeMemoryResult[] = [];
    for (let round = 1; round <= rounds; round++) {
      ctx.log(`bridge process round ${round}/${rounds}: cold start, idle, ${locks} locks`);
      // A fresh cloud per round: the bench's lock ids are the same every round, and a lock id belongs to one site.
      const cleanup = new Cleanup();
      try {
        const { site } = await startBenchSite(cleanup, tempDir(cleanup, "bridge-process"), "bench-memory");
        const memory = await benchBridgeMemory({
          site: bridgeBenchSite(site),
          locks,
          ...(ctx.smoke ? { settleSeconds: 1 } : {}),
        });
        results.push(memory);
      } finally {
        await cleanup.run();
      }
    }
    const list = (f: (r: BridgeMemoryResult) => number) => results.map((r) => f(r).toFixed(1)).join(", ");
    const idle = median(results.map((r) => r.idleRssMb));
    const loaded = median(results.map((r) => r.rssWithLocksMb));
    const cold = median(results.map((r) => r.coldStartReadyMs));
    const ofRounds = `median of ${rounds} rounds`;
    return [
      row(IDLE, {
        value: idle,
        baseline: null,
        ratio: null,
        met: idle <= 70,
        note: `RSS of latchkey-bridge once its change feed caught up, no lock connected; ${ofRounds} (${list((r) => r.idleRssMb)} MB). ${load()}`,
      }),
      row(LOADED, {
        value: loaded,
        baseline: null,
        ratio: null,
        met: loaded <= 120,
        note:
          `RSS of latchkey-bridge with ${locks} lock clients connected (embedded aedes), online and assigned at the ` +
          `cloud, telemetry uploaded, then ${results[0]?.settleSeconds ?? 0} s idle (steady state); ${ofRounds} ` +
          `(${list((r) => r.rssWithLocksMb)} MB; right after connecting ${list((r) => r.rssAfterConnectMb)} MB). ` +
          load(),
      }),
      row(COLD, {
        value: cold,
        baseline: null,
        ratio: null,
        met: cold <= 1000,
        note:
          `spawn of latchkey-bridge (fresh data directory) until /healthz reports the change feed read to its end; ` +
          `listening after ${median(results.map((r) => r.coldStartListeningMs)).toFixed(0)} ms; ${ofRounds} ` +
          `(${list((r) => r.coldStartReadyMs)} ms). ${load()}`,
      }),
    ];
  },
};
