import { benchVerify } from "./verify.js";

/** `npm run bench -w protocol`: token verification beside raw Ed25519 verify, same run, both backends. */
const quick = process.argv.includes("--quick");
for (const backend of ["node", "noble"] as const) {
  const r = benchVerify(backend, quick ? { rounds: 1, roundMs: 20 } : {});
  console.log(
    `${backend.padEnd(5)} token verify ${r.tokenPerSecond.toFixed(0).padStart(7)}/s   raw Ed25519 verify ${r.rawPerSecond
      .toFixed(0)
      .padStart(
        7,
      )}/s   ratio ${r.ratio.toFixed(3)} (target >= 0.9, ${r.ratio >= 0.9 ? "met" : "MISSED"}; ${r.tokenBytes}-byte token, median of ${r.rounds} rounds)`,
  );
}
