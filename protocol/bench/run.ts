import { benchReports } from "./reports.js";
import { benchStateVerify } from "./state.js";
import { benchVerify } from "./verify.js";

/**
 * `npm run bench -w protocol`: token verification and signed-state verification, each beside raw Ed25519 verify in
 * the same run, both backends; then report verification beside raw Ed25519 verify. `--quick` (or `--smoke`) runs tiny
 * rounds so the script cannot rot.
 */
const quick = process.argv.includes("--quick") || process.argv.includes("--smoke");
const sizes = quick ? { rounds: 1, roundMs: 20 } : {};
const rate = (n: number) => n.toFixed(0).padStart(7);
for (const backend of ["node", "noble"] as const) {
  const r = benchVerify(backend, sizes);
  console.log(
    `${backend.padEnd(5)} token verify ${rate(r.tokenPerSecond)}/s   raw Ed25519 verify ${rate(r.rawPerSecond)}/s   ratio ${r.ratio.toFixed(3)} (target >= 0.9, ${r.ratio >= 0.9 ? "met" : "MISSED"}; ${r.tokenBytes}-byte token, median of ${r.rounds} rounds)`,
  );
  const s = benchStateVerify(backend, sizes);
  console.log(
    `${backend.padEnd(5)} state verify ${rate(s.statePerSecond)}/s   raw Ed25519 verify ${rate(s.rawPerSecond)}/s   ratio ${s.ratio.toFixed(3)} (${s.stateBytes}-byte state, ${s.revocations} revocations, median of ${s.rounds} rounds)`,
  );
}
const rep = benchReports(sizes);
console.log(
  `node  report verify ${rep.reportPerSecond.toFixed(0).padStart(7)}/s (${rep.usPerReport.toFixed(1)} µs)   raw Ed25519 verify ${rep.rawEd25519PerSecond
    .toFixed(0)
    .padStart(
      7,
    )}/s (${rep.usPerEd25519.toFixed(1)} µs)   ${rep.speedup.toFixed(1)}x (MAC check + decode + counter; ${rep.reportBytes}-byte event report, median of ${rep.rounds} rounds)`,
);
