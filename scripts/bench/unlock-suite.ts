import { benchUnlockLatency, type UnlockLatencyResult } from "@latchkey/lock-sim/bench";
import { loadSpan } from "./machine.js";
import { type BenchContext, type BenchRow, type BenchSuite, median, type RowSpec, row } from "./rows.js";

const spec = (p: 50 | 99): RowSpec => ({ name: `unlock-p${p}`, unit: "ms", target: "p99 <= 5 ms" });

/**
 * Unlock at the lock (lock-sim's `benchUnlockLatency`, node:crypto backend): `challenge` (nonce drawn and booked),
 * then `unlock` (token and proof verified, motor, event committed to flash and handed to the MQTT client). The
 * phone's proof signing is not counted. Rounds of fresh locks; medians of each round's percentile.
 */
export const unlockSuite: BenchSuite = {
  id: "unlock",
  rows: [spec(50), spec(99)],
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rounds = ctx.smoke ? 1 : 3;
    const runs = ctx.smoke ? 20 : 1000;
    const load = loadSpan();
    const results: UnlockLatencyResult[] = [];
    for (let round = 1; round <= rounds; round++) {
      ctx.log(`unlock round ${round}/${rounds}: ${runs} unlocks`);
      results.push(await benchUnlockLatency({ runs, warmup: ctx.smoke ? 5 : 200 }));
    }
    const p99 = median(results.map((r) => r.atLockMs.p99));
    return ([50, 99] as const).map((p) =>
      row(spec(p), {
        value: p === 50 ? median(results.map((r) => r.atLockMs.p50)) : p99,
        baseline: null,
        ratio: null,
        met: p99 <= 5,
        note:
          `challenge → verified → event committed and handed to MQTT, at a lock-sim lock (node:crypto), ${runs} ` +
          `unlocks per round, median of ${rounds} rounds (p${p} ${results
            .map((r) => (p === 50 ? r.atLockMs.p50 : r.atLockMs.p99).toFixed(3))
            .join(", ")} ms); until the broker's PUBACK p${p} ` +
          `${median(results.map((r) => (p === 50 ? r.toPubackMs.p50 : r.toPubackMs.p99))).toFixed(3)} ms. ${load()}`,
      }),
    );
  },
};
