import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BenchRow } from "../bench/rows.js";
import { markdownTable, median, percentile } from "../bench/rows.js";
import { SUITES, suiteByName } from "../bench/suites.js";

// The bench runs the built dist/ (each suite in a child process), as `npm run bench` does; `npm test` builds first.
const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = join(root, "scripts/dist/bench/index.js");

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("bench rows", () => {
  it("median and percentile pick from the sorted sample", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
  });

  it("every suite is found by its id and by each of its row names, and names are unique", () => {
    const names = SUITES.flatMap((s) => s.rows.map((r) => r.name));
    expect(new Set(names).size).toBe(names.length);
    for (const suite of SUITES) {
      expect(suiteByName(suite.id)).toBe(suite);
      for (const r of suite.rows) expect(suiteByName(r.name)).toBe(suite);
    }
    expect(suiteByName("no-such-row")).toBeUndefined();
  });

  it("the Markdown table marks a missed target and a failed suite's missing figure", () => {
    const table = markdownTable([
      { name: "a", value: 1.5, unit: "ms", baseline: null, ratio: null, target: "t", met: false, command: "c" },
      { name: "b", value: null, unit: "ms", baseline: null, ratio: null, target: "t", met: false, command: "c" },
    ]);
    expect(table).toContain("| a | 1.50 | ms | — | — | t | **no** |");
    expect(table).toContain("| b | — | ms |");
  });
});

describe("npm run bench", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-bench-test-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses an unknown --only naming the flag, and lists the rows", async () => {
    expect(existsSync(cli), `${cli} missing: run \`npx tsc -b\` first`).toBe(true);
    const bad = await runBench(["--only", "no-such-row"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--only no-such-row");
    const list = await runBench(["--list"]);
    expect(list.code).toBe(0);
    for (const suite of SUITES) for (const r of suite.rows) expect(list.stdout).toContain(r.name);
  });

  // The smoke run: every suite with tiny sizes, each in its own process, against the real cloud, bridge and locks.
  // It checks the rows are well-formed and every suite ran; it never asserts a target (those are for `npm run bench`).
  it("--smoke runs every suite and writes well-formed rows", { timeout: 180_000 }, async () => {
    const out = join(dir, "results.json");
    const run = await runBench(["--smoke", "--out", out]);
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    const rows = JSON.parse(readFileSync(out, "utf8")) as BenchRow[];
    expect(rows.map((r) => r.name)).toEqual(SUITES.flatMap((s) => s.rows.map((r) => r.name)));
    for (const r of rows) {
      expect(Object.keys(r).sort()).toEqual(
        [
          "name",
          "value",
          "unit",
          "baseline",
          "ratio",
          "target",
          "met",
          "command",
          "note",
          ...(r.curve ? ["curve"] : []),
        ].sort(),
      );
      if (r.curve) {
        expect(r.curve.points.length, `${r.name} points`).toBeGreaterThanOrEqual(2);
        expect(["constant", "log", "linear", "worse than linear"]).toContain(r.curve.fit);
        expect(existsSync(join(dir, "curves", `${r.curve.plot}.svg`)), `${r.curve.plot}.svg`).toBe(true);
      }
      expect(Number.isFinite(r.value), `${r.name} value`).toBe(true);
      expect(r.unit.length).toBeGreaterThan(0);
      expect(r.baseline === null || Number.isFinite(r.baseline), `${r.name} baseline`).toBe(true);
      expect(r.ratio === null || Number.isFinite(r.ratio), `${r.name} ratio`).toBe(true);
      expect(r.ratio === null).toBe(r.baseline === null);
      expect(typeof r.met).toBe("boolean");
      expect(r.target.length).toBeGreaterThan(0);
      expect(r.command).toBe(`npm run bench -- --only ${r.name}`);
      expect(r.note).toMatch(/load avg/);
    }
    expect(run.stdout).toContain("| figure | value | unit | baseline (same run) | ratio | target | met |");
    for (const r of rows) expect(run.stdout).toContain(`| ${r.name} |`);
  });
});
