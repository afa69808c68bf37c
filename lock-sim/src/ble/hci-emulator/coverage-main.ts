import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Line coverage of noble's and bleno's `lib/hci-socket` from a directory of raw V8 coverage (what Node writes when
 * NODE_V8_COVERAGE is set), without a coverage package: this is how the closing note of issue 18 measures which of
 * their HCI code the emulated controllers drive.
 *
 *   NODE_V8_COVERAGE=/tmp/cov npx vitest run --pool=threads lock-sim/test/hci-*.test.ts
 *   node lock-sim/dist/src/ble/hci-emulator/coverage-main.js /tmp/cov
 *
 * (--pool=threads: forked workers are ended without writing their coverage.) A line counts as run when the
 * innermost V8 block range holding its first non-blank character ran; every private copy of a library loaded in
 * the run is merged. Blank and comment-only lines are not counted.
 */
interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}

interface ScriptCoverage {
  url: string;
  functions: { ranges: Range[] }[];
}

const PATTERN = /node_modules\/@abandonware\/(noble|bleno)\/lib\/hci-socket\/[^/]+\.js$/;

function counts(source: string, functions: ScriptCoverage["functions"]): Int32Array {
  const out = new Int32Array(source.length).fill(-1);
  const ranges = functions.flatMap((f) => f.ranges);
  // Outer ranges first, so the inner ones (blocks inside functions) have the last word.
  ranges.sort((a, b) => a.startOffset - b.startOffset || b.endOffset - a.endOffset);
  for (const r of ranges) out.fill(r.count, r.startOffset, Math.min(r.endOffset, source.length));
  return out;
}

function main(dir: string): void {
  const byFile = new Map<string, ScriptCoverage[]>();
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".json"))) {
    const { result } = JSON.parse(readFileSync(join(dir, name), "utf8")) as { result: ScriptCoverage[] };
    for (const script of result) {
      if (!PATTERN.test(script.url)) continue;
      const file = script.url.startsWith("file:") ? fileURLToPath(script.url) : script.url;
      byFile.set(file, [...(byFile.get(file) ?? []), script]);
    }
  }
  const rows: [string, number, number][] = [];
  for (const [file, scripts] of [...byFile.entries()].sort()) {
    const source = readFileSync(file, "utf8");
    const runs = scripts.map((s) => counts(source, s.functions));
    let total = 0;
    let covered = 0;
    let at = 0;
    let inComment = false;
    for (const line of source.split("\n")) {
      const trimmed = line.trim();
      const first = at + line.length - line.trimStart().length;
      at += line.length + 1;
      if (inComment) {
        if (trimmed.includes("*/")) inComment = false;
        continue;
      }
      if (trimmed.startsWith("/*") && !trimmed.includes("*/")) {
        inComment = true;
        continue;
      }
      if (trimmed === "" || trimmed.startsWith("//") || (trimmed.startsWith("/*") && trimmed.endsWith("*/"))) continue;
      total++;
      if (runs.some((c) => (c[first] ?? -1) > 0)) covered++;
    }
    rows.push([file.replace(/^.*node_modules\//, ""), covered, total]);
  }
  if (rows.length === 0) {
    process.stderr.write(`no coverage of @abandonware/*/lib/hci-socket in ${dir}\n`);
    process.exit(1);
  }
  for (const [file, c, t] of rows)
    process.stdout.write(`${((100 * c) / t).toFixed(1).padStart(5)}%  ${c}/${t}  ${file}\n`);
  const c = rows.reduce((n, r) => n + r[1], 0);
  const t = rows.reduce((n, r) => n + r[2], 0);
  process.stdout.write(`${((100 * c) / t).toFixed(1).padStart(5)}%  ${c}/${t}  all\n`);
}

if (process.argv[2] === undefined) {
  process.stderr.write("usage: coverage-main <NODE_V8_COVERAGE directory>\n");
  process.exit(2);
}
main(process.argv[2]);
