import { benchVerify } from "@latchkey/protocol/bench";
import { type BenchSuite, command } from "./rows.js";

/** Key token verifications per second on each Ed25519 backend, beside that backend's raw verify. */
export const protocolSuite: BenchSuite = {
  names: ["token-verify-node", "token-verify-noble"],
  async run(ctx) {
    return (["node", "noble"] as const).map((backend) => {
      const r = benchVerify(backend, ctx.smoke ? { rounds: 1, roundMs: 5 } : {});
      const name = `token-verify-${backend}`;
      return {
        name,
        value: r.tokenPerSecond,
        unit: "verifications/s",
        baseline: r.rawPerSecond,
        ratio: r.ratio,
        target: "ratio >= 0.9",
        met: r.ratio >= 0.9,
        command: command(name),
        note: `raw ${backend === "node" ? "node:crypto" : "@noble/ed25519"} Ed25519 verify of the same ${r.tokenBytes}-byte token's signed bytes; median ratio of ${r.rounds} alternating rounds`,
      };
    });
  },
};
