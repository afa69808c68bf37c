import type { CurvePoint, FitClass } from "./fit.js";

/** One row of bench/results.json (issue 9): a figure beside its same-run baseline, as a ratio, against a target. */
export interface BenchRow {
  name: string;
  /** null only when the suite failed (the note says why). */
  value: number | null;
  unit: string;
  /** The raw baseline measured in the same run, or null where none applies. */
  baseline: number | null;
  /** value / baseline (or baseline / value for "lower is better" figures), null without a baseline. */
  ratio: number | null;
  /** The target in words, e.g. "ratio >= 0.9". */
  target: string;
  met: boolean;
  /** How to reproduce this row alone. */
  command: string;
  /** Anything a reader needs to interpret the figure: sizes, rounds, what the baseline is. */
  note?: string;
  /** A growth curve's points and fit (issue 17 item 3; `--curves`): the bench plots these from the results file. */
  curve?: CurveData;
}

export interface CurveData {
  points: CurvePoint[];
  exponent: number;
  fit: FitClass;
  /** The plot (`<plot>.svg`) this curve is drawn in, beside the other stores' curve of the same cost. */
  plot: string;
  /** Its legend in that plot. */
  series: string;
  /** The points' unit (the row's, or the cost a rate's curve is fitted as). */
  unit: string;
}

export interface BenchContext {
  /** Tiny sizes, for the smoke run in `npm test`. */
  smoke: boolean;
  /** The growth curves' biggest sizes too (`--curves-full`): minutes more each. */
  full?: boolean;
  /** PostgreSQL for the rows that compare stores; absent = SQLite only. */
  databaseUrl?: string;
  /** Run the cloud and bridge processes under `node --cpu-prof`, profiles written here (`--profile <dir>`). */
  profileDir?: string;
  log(message: string): void;
}

/** What a row is before it is measured: the suite declares these, so a suite that fails still yields its rows. */
export interface RowSpec {
  name: string;
  unit: string;
  target: string;
}

export interface BenchSuite {
  /** The suite's own name (also accepted by `--only`). */
  id: string;
  /** The rows it produces; `--only <name>` selects a suite by any of their names. */
  rows: RowSpec[];
  /** Runs only when asked for (`--curves`, `--only`) and in the smoke run: the growth curves take minutes. */
  optIn?: boolean;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

export const command = (name: string) => `npm run bench -- --only ${name}`;

/** A measured row of `spec`. */
export function row(
  spec: RowSpec,
  measured: { value: number; baseline: number | null; ratio: number | null; met: boolean; note: string },
): BenchRow {
  return { name: spec.name, ...measured, unit: spec.unit, target: spec.target, command: command(spec.name) };
}

/** The row of a suite that failed: no figure, not met, and why. */
export function failedRow(spec: RowSpec, reason: string): BenchRow {
  return {
    name: spec.name,
    value: null,
    unit: spec.unit,
    baseline: null,
    ratio: null,
    target: spec.target,
    met: false,
    command: command(spec.name),
    note: `suite failed: ${reason}`,
  };
}

export function markdownTable(rows: BenchRow[]): string {
  const fmt = (n: number | null) =>
    n === null ? "—" : Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toFixed(3);
  const lines = [
    "| figure | value | unit | baseline (same run) | ratio | target | met |",
    "|---|---:|---|---:|---:|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.name} | ${fmt(r.value)} | ${r.unit} | ${fmt(r.baseline)} | ${fmt(r.ratio)} | ${r.target} | ${r.met ? "yes" : "**no**"} |`,
    ),
  ];
  return lines.join("\n");
}
