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

/**
 * A claimed lock-sim lock on the bridge: `rounds` rounds of `count` keys created and revoked one after another; the
 * median over the rounds of each round's p99 of revoke → applied at the lock (one round's p99 is its slowest few, one
 * stall of a shared machine: the median of several is the figure a fit can be taken on).
 */
async function revocationP99(
  site: SiteHarness,
  bridge: { mqttUrl: string; siteSecret: string },
  dataDir: string,
  count: number,
  rounds: number,
): Promise<{ p99: number; rounds: number[] }> {
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
    const p99s: number[] = [];
    let revoked = 0;
    for (let round = 0; round < rounds; round++) {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const key = await site.client.createKey(site.lockHolderId, lockId, {
          userId: `+4791${String(revoked).padStart(6, "0")}`,
          durationMinutes: 60,
        });
        const started = performance.now();
        await site.client.revokeKey(site.lockHolderId, key.id);
        revoked++;
        await lock.waitFor((l) => l.revoked.length >= revoked, `the revocation of ${key.id} at the lock`, {
          timeoutMs: 60_000,
        });
        times.push(performance.now() - started);
      }
      p99s.push(percentile(times, 99));
    }
    return { p99: percentile(p99s, 50), rounds: p99s };
  } finally {
    await lock.stop();
  }
}

const RSS: RowSpec = { name: "curve-locks-rss", unit: "MB", target: "fit linear or better" };
const EVENTS: RowSpec = { name: "curve-locks-events", unit: "events/s", target: "fit constant or log" };
const PROPAGATION: RowSpec = { name: "curve-locks-propagation-p99", unit: "ms", target: "fit constant or log" };
const STORM: RowSpec = { name: "curve-locks-reconnect-storm", unit: "s", target: "fit linear or better" };

/** LATCHKEY_BENCH_LOCKS_SIZES=1000,10000: only those points (a re-run of some sizes; the fit is then over those). */
function sizes(ctx: BenchContext): number[] {
  if (ctx.smoke) return [10, 20];
  const only = process.env.LATCHKEY_BENCH_LOCKS_SIZES;
  if (only) return only.split(",").map((n) => Number(n.trim()));
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
    // Events per lock held constant: the events grow with the locks, so the figure is the cost of an event against the
    // locks on the bridge (flat if the bridge is linear), not a fixed total shared by more and more connections.
    const eventsPerLock = 10;
    const revocations = ctx.smoke ? 3 : 20;
    const rounds = ctx.smoke ? 1 : 5;
    const probes = new Map<number, number[]>();
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
          eventsPerLock,
          settleSeconds: ctx.smoke ? 0 : 5,
          probe: async (bridge) => {
            const r = await revocationP99(site, bridge, join(dir, "lock"), revocations, rounds);
            probes.set(locks, r.rounds);
            return r.p99;
          },
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
        return `${sizeLabel(p.locks)}: ${r.first} at the first connects, ${r.storm} in the storm${r.drops ? `, ${r.drops} dropped outside it` : ""}${r.resent ? `, ${r.resent} events sent again after a drop` : ""}`;
      })
      .join("; ");
    const firstReason = points.map((p) => p.connectRetries.reason).find((r) => r !== null);
    const how =
      `lock clients (mqtt.js, bench/lock-clients.ts, one process; a lost connection or failed connect redialled as the ` +
      `reference lock does, after ${CONNECT_RETRY.periodMs} ms doubling per failed attempt to ${CONNECT_RETRY.maxMs} ms, ` +
      `±50 %, up to ${CONNECT_RETRY.attempts} attempts) on one latchkey-bridge process (embedded broker), a fresh cloud and bridge per size; connects ` +
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
            `${eventsPerLock} events per lock (the events grow with the locks: the figure is the cost of an event against ` +
            `the locks on the bridge, flat if the bridge is linear), each signed and sealed before the timed window, 4 in ` +
            `flight per lock, until the cloud acknowledged every one; the fit is of the cost, ms per 1,000 events ` +
            `(${points.map((p) => `${sizeLabel(p.locks)}: ${p.events} events, ${p.eventsPerSecond.toFixed(0)}/s, bridge CPU ${p.bridgeCpuUsPerEvent.toFixed(0)} µs and clients' process CPU ${p.clientsCpuUsPerEvent.toFixed(0)} µs an event`).join("; ")}); ${how}. ${load()}`,
        }),
        value: points.at(-1)!.eventsPerSecond,
      },
      curveRow(PROPAGATION, {
        points: curve((p) => p.probe!),
        expected: "log",
        plot: PROPAGATION.name,
        series: "bridge",
        note:
          `with every lock connected: a claimed lock-sim lock on the same bridge, ${rounds} rounds of ${revocations} keys ` +
          `created and revoked one after another, PUT …/keys/{id} revoked until the lock applied a signed state listing ` +
          `the cti (as key-propagation-revoke); the figure is the median of the rounds' p99 ` +
          `(${points.map((p) => `${sizeLabel(p.locks)}: ${(probes.get(p.locks) ?? []).map((v) => v.toFixed(0)).join(", ")} ms`).join("; ")}); ${how}. ${load()}`,
      }),
      curveRow(STORM, {
        points: curve((p) => p.reconnectStormSeconds),
        expected: "linear",
        plot: STORM.name,
        series: "bridge",
        note:
          `the bridge process restarted (SIGTERM, its broker with it; ${points.map((p) => `${p.restartMs} ms`).join(", ")} until ` +
          `/healthz answered) under every lock, each redialling as the reference lock does (its first attempt 0.5–1.5 s ` +
          `after the drop, refused while the bridge is down, then backing off): until all are connected, keys and status ` +
          `PUBACKed, subscriptions SUBACKed and the outbox empty; the kernel's listen-queue overflows meanwhile ` +
          `(TcpExt ListenOverflows, machine-wide) ${points.map((p) => `${sizeLabel(p.locks)}: ${p.listenOverflows ?? "n/a"}`).join(", ")}, ` +
          `the last lock's working attempt began at ${points.map((p) => `${sizeLabel(p.locks)}: ${p.lastAttemptStartedSeconds.toFixed(1)} s`).join(", ")} ` +
          `(the rest is the bridge serving it; the slowest working attempt took ${points.map((p) => `${p.slowestAttemptSeconds.toFixed(1)} s`).join(", ")}), ` +
          `failed attempts by reason ${points.map((p) => `${sizeLabel(p.locks)}: ${JSON.stringify(p.stormReasons)}`).join("; ")}, ` +
          `connections the bridge found abandoned by their lock before its CONNACK (not set up) ${points.map((p) => `${sizeLabel(p.locks)}: ${p.abandonedConnects}`).join(", ")}, ` +
          `net.core.somaxconn ${points[0]?.somaxconn ?? "n/a"}; ${how}. ${load()}`,
      }),
    ];
  },
};
