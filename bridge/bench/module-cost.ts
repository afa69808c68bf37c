import { execFileSync } from "node:child_process";
import { BRIDGE_NODE_FLAGS } from "../src/runtime.js";
import { BRIDGE_PACKAGE_ROOT } from "../src/version.js";

/** What loading one module costs a fresh Node process under the bridge's flags, above bare Node (medians). */
export interface ModuleCost {
  /** The specifier as the bridge imports it (a package, or the daemon's own entry points). */
  module: string;
  /** When the bridge loads it: always, or only when the configuration uses it. */
  loaded: string;
  /** Wall time of the `import()`. */
  ms: number;
  /** Resident memory after the import and a full GC, above bare Node's. */
  rssMb: number;
  /** V8 heap in use after a full GC, above bare Node's. */
  heapMb: number;
}

/**
 * The bridge's runtime dependencies, each with when it is loaded (issue 17 item 2: load only what the configuration
 * uses). The daemon's own modules last: everything the `latchkey-bridge --config` path imports before it starts.
 */
export const BRIDGE_MODULES: readonly { module: string; loaded: string }[] = [
  { module: "@latchkey/protocol", loaded: "always" },
  { module: "@latchkey/runtime", loaded: "always (pino, better-sqlite3, TypeBox's value checks)" },
  { module: "@sinclair/typebox", loaded: "always (configuration and contract schemas)" },
  { module: "yaml", loaded: "always (the configuration file)" },
  { module: "commander", loaded: "always (the command line)" },
  { module: "pino", loaded: "always (the log)" },
  { module: "better-sqlite3", loaded: "always (outbox, state, broker sessions)" },
  { module: "prom-client", loaded: "never since issue 17 (the cloud only; the bridge writes its own exposition)" },
  { module: "aedes", loaded: "mqtt.broker: embedded" },
  { module: "mqtt", loaded: "mqtt.broker: external only" },
  { module: "ws", loaded: "mqtt.wsPort set only" },
  {
    module: "undici",
    loaded: "never since issue 17 (the global fetch's client, whose first request also compiles a WebAssembly parser)",
  },
  { module: "./dist/src/cli/main.js", loaded: "the daemon's command line, configuration included" },
  { module: "./dist/src/controller.js", loaded: "the daemon, every extension" },
];

const PROBE = `
const t = performance.now();
if (process.env.PROBE_MODULE === "undici") await fetch("data:,x");
else if (process.env.PROBE_MODULE) await import(process.env.PROBE_MODULE);
const ms = performance.now() - t;
globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); globalThis.gc();
const m = process.memoryUsage();
process.stdout.write(JSON.stringify({ ms, rss: m.rss / 1048576, heap: m.heapUsed / 1048576 }));
`;

function probe(module: string): { ms: number; rss: number; heap: number } {
  const out = execFileSync(
    process.execPath,
    [...BRIDGE_NODE_FLAGS, "--expose-gc", "--input-type=module", "-e", PROBE],
    { cwd: BRIDGE_PACKAGE_ROOT, env: { ...process.env, PROBE_MODULE: module }, encoding: "utf8" },
  );
  return JSON.parse(out) as { ms: number; rss: number; heap: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Each module in a fresh process, `rounds` times, alternating with bare Node: its load time and the memory it leaves.
 * Figures do not add up: modules share what they load (node:stream, the ESM loader), counted by whichever comes first.
 */
export function benchModuleCost(rounds = 5): { bare: { rssMb: number; heapMb: number }; modules: ModuleCost[] } {
  const bare: { rss: number; heap: number }[] = [];
  const runs = new Map<string, { ms: number; rss: number; heap: number }[]>();
  for (let round = 0; round < rounds; round++) {
    bare.push(probe(""));
    for (const { module } of BRIDGE_MODULES) runs.set(module, [...(runs.get(module) ?? []), probe(module)]);
  }
  const bareRss = median(bare.map((b) => b.rss));
  const bareHeap = median(bare.map((b) => b.heap));
  return {
    bare: { rssMb: bareRss, heapMb: bareHeap },
    modules: BRIDGE_MODULES.map(({ module, loaded }) => {
      const r = runs.get(module)!;
      return {
        module,
        loaded,
        ms: median(r.map((x) => x.ms)),
        rssMb: median(r.map((x) => x.rss)) - bareRss,
        heapMb: median(r.map((x) => x.heap)) - bareHeap,
      };
    }),
  };
}
