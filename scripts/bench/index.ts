import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { workspaceRoot } from "../src/stack/paths.js";
import { loadNote } from "./machine.js";
import { plotsDir, writePlots } from "./plots.js";
import { type BenchRow, type BenchSuite, markdownTable } from "./rows.js";
import { killRunningSuites, runSuite } from "./run.js";
import { SUITES, suiteByName } from "./suites.js";

/**
 * `npm run bench [-- --only <name>]… [--smoke] [--out <file>] [--profile <dir>] [--list]` (issue 9): every suite in
 * sequence, each in a fresh process; writes bench/results.json and prints the Markdown table. `--only` runs the suites
 * of the named rows and updates just those rows in the results file; `--smoke` runs tiny sizes and writes only to
 * `--out`; `--profile` runs the cloud and bridge processes under `node --cpu-prof`. `--curves` adds the growth curves
 * (issue 17 item 3), `--curves-full` at their biggest sizes too; their plots are drawn from the results file.
 */
async function main(argv: string[]): Promise<number> {
  let values: {
    only?: string[];
    smoke?: boolean;
    out?: string;
    list?: boolean;
    profile?: string;
    curves?: boolean;
    "curves-full"?: boolean;
    plots?: string;
  };
  try {
    values = parseArgs({
      args: argv,
      options: {
        only: { type: "string", multiple: true },
        smoke: { type: "boolean" },
        out: { type: "string" },
        list: { type: "boolean" },
        profile: { type: "string" },
        curves: { type: "boolean" },
        "curves-full": { type: "boolean" },
        plots: { type: "string" },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  if (values.list) {
    for (const s of SUITES) for (const r of s.rows) process.stdout.write(`${r.name}\t(suite ${s.id})\t${r.target}\n`);
    return 0;
  }
  const suites: BenchSuite[] = [];
  for (const name of values.only ?? []) {
    const suite = suiteByName(name);
    if (!suite) {
      const names = SUITES.flatMap((s) => s.rows.map((r) => r.name)).join(", ");
      process.stderr.write(`--only ${name}: no such row or suite (rows: ${names})\n`);
      return 2;
    }
    if (!suites.includes(suite)) suites.push(suite);
  }
  const smoke = values.smoke === true;
  const full = values["curves-full"] === true;
  const curves = full || values.curves === true;
  // The growth curves take minutes: only when asked for, and in the smoke run (which checks every suite still works).
  const selected = suites.length > 0 ? suites : SUITES.filter((s) => !s.optIn || curves || smoke);
  const out = values.out ? resolve(values.out) : smoke ? null : join(workspaceRoot(), "bench", "results.json");

  process.stderr.write(
    `latchkey bench${smoke ? " (smoke)" : ""}: ${selected.map((s) => s.id).join(", ")}; ${loadNote()}\n`,
  );
  const started = performance.now();
  // Measured runs go one at a time (a suite must have the machine to itself); smoke runs only check that every suite
  // still works, three at a time, so `npm test` stays quick.
  const outcomes = await pool(selected, smoke ? 3 : 1, async (suite) => {
    process.stderr.write(`▶ ${suite.id}\n`);
    const outcome = await runSuite(suite, {
      smoke,
      timeoutMs: smoke ? 120_000 : suite.optIn ? (full ? 4 * 3600_000 : 1800_000) : 360_000,
      full,
      ...(values.profile ? { profileDir: resolve(values.profile) } : {}),
      stderr: process.stderr,
    });
    process.stderr.write(`  ${suite.id}: ${outcome.error ?? "done"} in ${outcome.seconds.toFixed(1)} s\n`);
    return outcome;
  });
  const rows: BenchRow[] = outcomes.flatMap((o) => o.rows);
  const failed = outcomes.filter((o) => o.error !== null).length;
  const seconds = (performance.now() - started) / 1000;

  if (out) {
    // --only replaces its rows in the existing file and keeps the others (each row carries its own same-run baseline).
    const kept =
      suites.length > 0 && existsSync(out)
        ? (JSON.parse(readFileSync(out, "utf8")) as BenchRow[]).filter((r) => !rows.some((n) => n.name === r.name))
        : [];
    const order = SUITES.flatMap((s) => s.rows.map((r) => r.name));
    const all = [...kept, ...rows].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(all, null, 2)}\n`);
    const plotted = writePlots(all, plotsDir(values.plots, out, smoke));
    if (plotted.length > 0) process.stderr.write(`plots: ${plotted.join(", ")}\n`);
  }
  process.stdout.write(`${markdownTable(rows)}\n\n`);
  process.stdout.write(
    `${rows.filter((r) => r.met).length}/${rows.length} targets met in ${seconds.toFixed(0)} s; ${loadNote()}` +
      `${out ? `; rows in ${out}` : ""}\n`,
  );
  return failed > 0 ? 1 : 0;
}

/** Maps `items` with at most `width` at a time; answers in the order of `items`. */
async function pool<T, R>(items: T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return out;
}

for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    killRunningSuites();
    process.exit(130);
  });
process.exitCode = await main(process.argv.slice(2));
