import { benchModuleCost } from "@latchkey/bridge/bench";
import { loadSpan } from "./machine.js";
import { type BenchContext, type BenchRow, type BenchSuite, type RowSpec, row } from "./rows.js";

// Ours (issue 17 item 2 asks for the list, not a figure): the daemon's modules, loaded in a fresh process, stay within
// the part of the 70 MB idle budget that the running bridge leaves them (its heap, SQLite and sockets take the rest).
const SPEC: RowSpec = { name: "bridge-module-load", unit: "MB", target: "<= 30 MB above bare Node (ours)" };
const BUDGET_MB = 30;

/**
 * What each of the bridge's dependencies costs to load (bridge `benchModuleCost`): a fresh Node process per module
 * under the bin's flags, alternating with bare Node; the row is the daemon's whole import graph, its note the list.
 */
export const moduleCostSuite: BenchSuite = {
  id: "module-cost",
  rows: [SPEC],
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const load = loadSpan();
    const rounds = ctx.smoke ? 1 : 5;
    ctx.log(`module load cost, ${rounds} rounds`);
    const { bare, modules } = benchModuleCost(rounds);
    const daemon = modules.filter((m) => m.module.startsWith("./dist/src/"));
    const whole = Math.max(...daemon.map((m) => m.rssMb));
    const list = modules
      .map(
        (m) =>
          `${m.module} ${m.ms.toFixed(0)} ms, +${m.rssMb.toFixed(1)} MB RSS, +${m.heapMb.toFixed(1)} MB heap (${m.loaded})`,
      )
      .join("; ");
    return [
      row(SPEC, {
        value: whole,
        baseline: null,
        ratio: null,
        met: whole <= BUDGET_MB,
        note:
          `RSS above bare Node (${bare.rssMb.toFixed(1)} MB, heap ${bare.heapMb.toFixed(1)} MB) after importing the ` +
          `daemon's entry points and a full GC, median of ${rounds} fresh processes each; per module, alone: ${list}. ` +
          `Figures do not add up (modules share node:stream, the ESM loader…). ${load()}`,
      }),
    ];
  },
};
