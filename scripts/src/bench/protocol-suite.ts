import { benchVerify } from "@latchkey/protocol/bench";
import { loadSpan } from "./machine.js";
import { type BenchSuite, type RowSpec, row } from "./rows.js";

const BACKENDS = ["node", "noble"] as const;
const spec = (backend: (typeof BACKENDS)[number]): RowSpec => ({
  name: `token-verify-${backend}`,
  unit: "verifications/s",
  target: "ratio >= 0.9",
});

/** Key token verifications per second on each Ed25519 backend, beside that backend's raw verify. */
export const protocolSuite: BenchSuite = {
  id: "protocol",
  rows: BACKENDS.map(spec),
  async run(ctx) {
    return BACKENDS.map((backend) => {
      const load = loadSpan();
      ctx.log(`token verification, ${backend} backend`);
      const r = benchVerify(backend, ctx.smoke ? { rounds: 1, roundMs: 5 } : {});
      return row(spec(backend), {
        value: r.tokenPerSecond,
        baseline: r.rawPerSecond,
        ratio: r.ratio,
        met: r.ratio >= 0.9,
        note:
          `raw ${backend === "node" ? "node:crypto" : "@noble/ed25519"} Ed25519 verify of the same ${r.tokenBytes}-byte ` +
          `token's signed bytes (key imported once); median ratio of ${r.rounds} alternating rounds; ${load()}`,
      });
    });
  },
};
