import { benchTwoClouds, type TwoCloudsMeasure } from "@latchkey/cloud/bench";
import { loadSpan } from "./machine.js";
import { type BenchContext, type BenchRow, type BenchSuite, median, type RowSpec, row } from "./rows.js";

// Issue 17 item 5 names no target; ours: a second cloud process on the same database must not cost throughput.
const TARGET = "ratio >= 0.9 (ours)";
const INGEST: RowSpec = { name: "two-clouds-ingest-postgres", unit: "events/s", target: TARGET };
const BATCH: RowSpec = { name: "two-clouds-batch-create-postgres", unit: "keys/s", target: TARGET };

const cpu = (ms: TwoCloudsMeasure[]) => {
  const pick = (f: (m: TwoCloudsMeasure) => number | null) => {
    const xs = ms.map(f).filter((x): x is number => x !== null);
    return xs.length ? median(xs).toFixed(0) : "—";
  };
  return `cloud A ${pick((m) => m.cpuPerThousand.a)}, cloud B ${pick((m) => m.cpuPerThousand.b)}, driver ${pick((m) => m.cpuPerThousand.driver)}, PostgreSQL backends ${pick((m) => m.postgres.cpuPerThousand)} ms`;
};

/** PostgreSQL's side, medians of the rounds: machine busy, active backends, the three most frequent waits. */
const pgSide = (ms: TwoCloudsMeasure[]) => {
  const busy = median(ms.map((m) => m.postgres.machineBusy ?? Number.NaN));
  const waits = new Map<string, number[]>();
  for (const m of ms) for (const [k, v] of Object.entries(m.postgres.waits)) waits.set(k, [...(waits.get(k) ?? []), v]);
  const top = [...waits]
    .map(([k, vs]) => [k, vs.reduce((a, b) => a + b, 0) / ms.length] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, v]) => `${k} ${(v * 100).toFixed(0)} %`)
    .join(", ");
  const xacts = ms.map((m) => `${m.postgres.rollbacks}/${m.postgres.commits}`).join(", ");
  return (
    `machine ${(busy * 100).toFixed(0)} % busy, ${median(ms.map((m) => m.postgres.activeBackends)).toFixed(1)} ` +
    `active backends (${top}), rolled back/committed ${xacts}`
  );
};

/**
 * Two cloud processes on one PostgreSQL (issue 17 item 5): sealed-report ingest and batch create through one cloud
 * process and through two on the same schema, in the same rounds, order alternating; value two, baseline one.
 */
export const twoCloudsSuite: BenchSuite = {
  id: "two-clouds",
  rows: process.env.DATABASE_URL ? [INGEST, BATCH] : [],
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    if (!ctx.databaseUrl) {
      ctx.log("two-clouds-* skipped: DATABASE_URL is not set");
      return [];
    }
    const load = loadSpan();
    const events = ctx.smoke ? 1_000 : 20_000;
    const keys = ctx.smoke ? 2_000 : 10_000;
    const rounds = ctx.smoke ? 1 : 3;
    const r = await benchTwoClouds({ databaseUrl: ctx.databaseUrl, events, keys, rounds, log: ctx.log });
    const list = (ms: TwoCloudsMeasure[]) => ms.map((m) => m.perSecond.toFixed(0)).join(", ");
    return (
      [
        [
          INGEST,
          r.ingest,
          `${events} sealed event reports over POST /bridge/v1/reports, two upload streams of batches of 500 (each ` +
            `over half of the 10 locks, so every lock's reports stay in counter order), sealed before the clock starts, ` +
            `after ${Math.min(10_000, events)} untimed ones through the same clouds (the second process is new each time)`,
        ],
        [
          BATCH,
          r.batch,
          `${keys} keys over POST …/keys/batch, two streams of requests of 1,000, until every job succeeded`,
        ],
      ] as const
    ).map(([spec, m, how]) => {
      const ratios = m.two.map((two, i) => two.perSecond / m.one[i]!.perSecond);
      const ratio = median(ratios);
      return row(spec, {
        value: median(m.two.map((x) => x.perSecond)),
        baseline: median(m.one.map((x) => x.perSecond)),
        ratio,
        met: ratio >= 0.9,
        note:
          `${how}; both streams to one cloud process (${list(m.one)}) or one stream to each of two cloud processes on ` +
          `the same PostgreSQL schema (${list(m.two)}), the clouds processes of their own, the driver a third, ` +
          `${rounds} rounds, order alternating; ratio: median of the rounds' ratios ` +
          `(${ratios.map((x) => x.toFixed(2)).join(", ")}). CPU per 1,000: one process ${cpu(m.one)}; two ${cpu(m.two)}. ` +
          `PostgreSQL, one process: ${pgSide(m.one)}; two: ${pgSide(m.two)}. Requests answered 5xx and sent ` +
          `again (a serialization failure past the store's retries), per round: one process ` +
          `${m.one.map((x) => x.resent).join(", ")}; two ${m.two.map((x) => x.resent).join(", ")}. ` +
          load(),
      });
    });
  },
};
