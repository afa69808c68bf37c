#!/usr/bin/env node
// Line coverage of noble's and bleno's own HCI stacks (node_modules/@abandonware/*/lib/hci-socket) from V8 coverage
// files (issue 18): run something over the emulated controllers with NODE_V8_COVERAGE=<dir>, then
//   node scripts/tools/hci-coverage.mjs <dir>
// A line counts when the innermost V8 block range at its first character ran at least once in any of the processes.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node scripts/tools/hci-coverage.mjs <NODE_V8_COVERAGE directory>");
  process.exit(2);
}
const files = new Map();
for (const name of readdirSync(dir)) {
  const { result } = JSON.parse(readFileSync(join(dir, name), "utf8"));
  for (const script of result) {
    const m = /node_modules\/@abandonware\/(noble|bleno)\/lib\/hci-socket\/([^/]+\.js)$/.exec(script.url);
    if (!m) continue;
    const src = readFileSync(fileURLToPath(script.url), "utf8");
    const counts = new Int32Array(src.length);
    // Wider ranges first, so each character ends with the count of the innermost range around it.
    const ranges = script.functions
      .flatMap((f) => f.ranges)
      .sort((a, b) => b.endOffset - b.startOffset - (a.endOffset - a.startOffset));
    for (const r of ranges) counts.fill(r.count, r.startOffset, Math.min(r.endOffset, src.length));
    const key = `${m[1]}/${m[2]}`;
    const seen = files.get(key) ?? { src, hit: new Uint8Array(src.length) };
    for (let i = 0; i < src.length; i++) if (counts[i] > 0) seen.hit[i] = 1;
    files.set(key, seen);
  }
}
let lines = 0;
let covered = 0;
for (const [key, { src, hit }] of [...files].sort()) {
  let offset = 0;
  let l = 0;
  let c = 0;
  for (const line of src.split("\n")) {
    const text = line.trim();
    if (text && !text.startsWith("//") && !/^[})\];,]*$/.test(text)) {
      l++;
      if (hit[offset + line.indexOf(text)]) c++;
    }
    offset += line.length + 1;
  }
  lines += l;
  covered += c;
  console.log(
    `${key.padEnd(24)} ${String(c).padStart(4)}/${String(l).padEnd(4)} lines (${Math.round((100 * c) / l)} %)`,
  );
}
console.log(`${"all".padEnd(24)} ${covered}/${lines} lines (${lines ? Math.round((100 * covered) / lines) : 0} %)`);
