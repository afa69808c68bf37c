import { join } from "node:path";
import { benchLocksCurvePoint, CONNECT_RETRY, type LocksCurvePoint } from "@latchkey/bridge/bench";
import { startLock, VirtualRadio } from "@latchkey/lock-sim";
import type { SiteHarness } from "../src/site/index.js";
import { Cleanup } from "./cleanup.js";
import { curveRow } from "./curve-rows.js";
import { sizeLabel } from "./fit.js";
import { loadSpan } from "./machine.js";
import { type BenchContext, type BenchRow, type BenchSuite, percentile, type RowSpec } from "./rows.js";
import { bridgeBenchSite, startBenchSite, tempDir } from "./site.js";

/** A claimed lock-sim lock on the bridge: `count` keys created and revoked, p99 of revoke → applied at the lock. */
async function revocationP99(
  site: SiteHarness,
  bridge: { mqttUrl: string; siteSecret: string },
  dataDir: string,
  count: number,
): Promise<number> {
  const lockId = "curve-probe-lock";
  const lock = await startLock({
    lockId,
    dataDir,
    mqttUrl: bridge.mqttUrl,
    siteSecret: bridge.siteSecret,
    radio: new VirtualRadio(),
    telemetryIntervalSeconds: 0,
  });
  try {
    await site.client.claimLock(site.lockHolderId, lock.setupCode);
    await lock.waitFor((l) => l.trustedKids.length > 0, "a signed state at the probe lock", { timeoutMs: 120_000 });
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const key = await site.client.createKey(site.lockHolderId, lockId, {
        userId: `+4791${String(i).padStart(6, "0")}`,
        durationMinutes: 60,
      });
      const started = performance.now();
      await site.client.revokeKey(site.lockHolderId, key.id);
      await lock.waitFor((l) => l.revoked.length > i, `the revocation of ${key.id} at the lock`, { timeoutMs: 60_000 });
      times.push(performance.now() - started);
    }
    return percentile(times, 99);
  } finally {
    await lock.stop();
  }
}

const RSS: RowSpec = { name: "curve-locks-rss", unit: "MB", target: "fit linear or better" };
const EVENTS: RowSpec = { name: "curve-locks-events", unit: "events/s", target: "fit constant or log" };
const PROPAGATION: RowSpec = { name: "curve-locks-propagation-p99", unit: "ms", target: "fit constant or log" };
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
  rows: [RSS, PROPAGATION, EVENTS, STORM],
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const load = loadSpan();
    const points: LocksCurvePoint[] = [];
    // A size that fails ends the curve there, its reason in the notes; the sizes before it still make the curve.
    let failed = "";
    const events = ctx.smoke ? 200 : 20_000;
    const revocations = ctx.smoke ? 3 : 50;
    for (const locks of sizes(ctx)) {
      ctx.log(`${sizeLabel(locks)} locks on one bridge`);
      const cleanup = new Cleanup();
      try {
        const dir = tempDir(cleanup, "locks-curve");
        const { site } = await startBenchSite(cleanup, dir, `curve-${locks}`);
        const point = await benchLocksCurvePoint({
          site: bridgeBenchSite(site),
          // The probe lock is one of the size's locks: all of them are found under one vendor connection, whose report
          // of found locks the cloud caps at 10,000 (docs/bridge-api.md), so 10,000 clients and a probe would be refused.
          locks: locks - 1,
          events,
          settleSeconds: ctx.smoke ? 0 : 5,
          probe: (bridge) => revocationP99(site, bridge, join(dir, "lock"), revocations),
        });
        ctx.log(`  ${JSON.stringify(point)}`);
        points.push({ ...point, locks });
      } catch (e) {
        if (points.length < 2) throw e;
        failed = ` ${sizeLabel(locks)} locks failed: ${(e as Error).message.slice(0, 200)}.`;
        ctx.log(failed);
        break;
      } finally {
        await cleanup.run();
      }
    }
    const curve = (f: (p: LocksCurvePoint) => number) => points.map((p) => ({ size: p.locks, value: f(p) }));
    // Lock clients redial a failed connect with backoff as locks do; how often they had to is part of the result.
    const retried = points
      .map((p) => {
        const r = p.connectRetries;
        return `${sizeLabel(p.locks)}: ${r.first} at the first connects, ${r.storm} in the storm${r.drops ? `, ${r.drops} dropped` : ""}`;
      })
      .join("; ");
    const firstReason = points.map((p) => p.connectRetries.reason).find((r) => r !== null);
    const how =
      `lock clients (mqtt.js, bench/lock-clients.ts; a failed connect redialled after a backoff of ` +
      `${CONNECT_RETRY.firstDelayMs} ms doubling to ${CONNECT_RETRY.maxDelayMs} ms, ±50 %, up to ${CONNECT_RETRY.attempts} attempts) on one latchkey-bridge process (embedded broker), a fresh cloud and bridge per size; connects ` +
      `retried: ${retried}${firstReason ? ` (e.g. ${firstReason})` : ""}${failed ? `;${failed}` : ""}`;
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
          pointsUnit: "ms per 1,000 events",
          note:
            `${events} events over all locks (${points.map((p) => `${sizeLabel(p.locks)}: ${p.eventsPerSecond.toFixed(0)}/s`).join(", ")}), ` +
            `4 in flight per lock, until the cloud acknowledged every one; the fit is of the cost, ms per 1,000 events; ${how}. ${load()}`,
        }),
        value: points.at(-1)!.eventsPerSecond,
      },
      curveRow(PROPAGATION, {
        points: curve((p) => p.probe!),
        expected: "log",
        plot: PROPAGATION.name,
        series: "bridge",
        note:
          `with every lock connected: a claimed lock-sim lock on the same bridge, ${revocations} keys created and revoked ` +
          `one after another, PUT …/keys/{id} revoked until the lock applied a signed state listing the cti (as ` +
          `key-propagation-revoke); ${how}. ${load()}`,
      }),
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
