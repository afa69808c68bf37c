import { benchLocksCurvePoint, type LocksCurvePoint } from "@latchkey/bridge/bench";
import { Cleanup } from "./cleanup.js";
import { curveRow } from "./curve-rows.js";
import { sizeLabel } from "./fit.js";
import { loadSpan } from "./machine.js";
import type { BenchContext, BenchRow, BenchSuite, RowSpec } from "./rows.js";
import { bridgeBenchSite, startBenchSite, tempDir } from "./site.js";

const RSS: RowSpec = { name: "curve-locks-rss", unit: "MB", target: "fit linear or better" };
const EVENTS: RowSpec = { name: "curve-locks-events", unit: "events/s", target: "fit constant or log" };
const STORM: RowSpec = { name: "curve-locks-reconnect-storm", unit: "s", target: "fit linear or better" };

function sizes(ctx: BenchContext): number[] {
  if (ctx.smoke) return [10, 20];
  return ctx.full ? [100, 1_000, 5_000, 10_000] : [100, 1_000, 5_000];
}

/**
 * Locks per bridge (issue 17 item 3): for each size a fresh cloud process and a fresh bridge process (bin, embedded
 * broker), that many lock clients on it; RSS, events/s and the reconnect storm (bridge/bench/locks-curve.ts).
 */
export const locksCurveSuite: BenchSuite = {
  id: "locks-curve",
  optIn: true,
  rows: [RSS, EVENTS, STORM],
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const load = loadSpan();
    const points: LocksCurvePoint[] = [];
    const events = ctx.smoke ? 200 : 20_000;
    for (const locks of sizes(ctx)) {
      ctx.log(`${sizeLabel(locks)} locks on one bridge`);
      const cleanup = new Cleanup();
      try {
        const { site } = await startBenchSite(cleanup, tempDir(cleanup, "locks-curve"), `curve-${locks}`);
        const point = await benchLocksCurvePoint({
          site: bridgeBenchSite(site),
          locks,
          events,
          settleSeconds: ctx.smoke ? 0 : 5,
        });
        ctx.log(`  ${JSON.stringify(point)}`);
        points.push(point);
      } finally {
        await cleanup.run();
      }
    }
    const curve = (f: (p: LocksCurvePoint) => number) => points.map((p) => ({ size: p.locks, value: f(p) }));
    const how = `lock clients (mqtt.js, bench/lock-clients.ts) on one latchkey-bridge process (embedded broker), a fresh cloud and bridge per size`;
    // Events/s falls as cost grows, so its curve is plotted as ms per 1,000 events for the fit (rising = worse).
    return [
      curveRow(RSS, {
        points: curve((p) => p.rssMb),
        expected: "linear",
        plot: RSS.name,
        series: "bridge",
        note: `RSS of the bridge (its /metrics) with every lock connected, online and its presence uploaded, 5 s idle; ${how}. ${load()}`,
      }),
      {
        ...curveRow(EVENTS, {
          points: curve((p) => 1e6 / p.eventsPerSecond),
          expected: "log",
          plot: EVENTS.name,
          series: "bridge (ms per 1,000 events)",
          note:
            `${events} events over all locks (${points.map((p) => `${sizeLabel(p.locks)}: ${p.eventsPerSecond.toFixed(0)}/s`).join(", ")}), ` +
            `4 in flight per lock, until the cloud acknowledged every one; the fit is of the cost, ms per 1,000 events; ${how}. ${load()}`,
        }),
        value: points.at(-1)!.eventsPerSecond,
      },
      curveRow(STORM, {
        points: curve((p) => p.reconnectStormSeconds),
        expected: "linear",
        plot: STORM.name,
        series: "bridge",
        note:
          `the bridge process restarted (SIGTERM, its broker with it; ${points.map((p) => `${p.restartMs} ms`).join(", ")} until ` +
          `/healthz answered), then every lock reconnects at once: until all are connected, keys and status PUBACKed, ` +
          `subscriptions SUBACKed and the outbox empty; ${how}. ${load()}`,
      }),
    ];
  },
};
