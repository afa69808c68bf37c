import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { workspaceRoot } from "../src/stack/paths.js";
import { linePlotSvg } from "./plot.js";
import type { BenchRow } from "./rows.js";

/**
 * Where the curves' plots go: `--plots <dir>`; beside a smoke run's results file (never over the recorded plots); else
 * scripts/curves/, which scripts/README links (the measured plots are committed with the figures they show).
 */
export function plotsDir(flag: string | undefined, out: string, smoke: boolean): string {
  if (flag) return resolve(flag);
  return smoke ? join(dirname(out), "curves") : join(workspaceRoot(), "scripts", "curves");
}

/** One SVG per plot of the rows' curves (every store's series of one cost together); answers the files written. */
export function writePlots(rows: readonly BenchRow[], dir: string): string[] {
  const plots = new Map<string, BenchRow[]>();
  for (const r of rows)
    if (r.curve && r.value !== null) plots.set(r.curve.plot, [...(plots.get(r.curve.plot) ?? []), r]);
  const written: string[] = [];
  for (const [plot, curves] of plots) {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${plot}.svg`);
    writeFileSync(
      file,
      linePlotSvg({
        title: `${plot}: ${curves.map((r) => `${r.curve!.series} ${r.curve!.fit} (${r.curve!.exponent.toFixed(2)})`).join(", ")}`,
        yLabel: curves[0]!.curve!.unit,
        series: curves.map((r) => ({ label: r.curve!.series, points: r.curve!.points })),
      }),
    );
    written.push(file);
  }
  return written;
}
