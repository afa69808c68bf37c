import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { suiteByName } from "./suites.js";

/**
 * One suite in a process of its own (spawned by run.ts): a fresh heap and event loop per suite, and nothing of the
 * harness in any figure. `node suite-child.js <suite> --rows <file> [--smoke]`; progress goes to stderr.
 */
// The bench may stop reading (interrupted): progress lines are not worth dying for half-way through a cleanup.
process.stderr.on("error", () => {});
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rows: { type: "string" },
    smoke: { type: "boolean", default: false },
    full: { type: "boolean", default: false },
    profile: { type: "string" },
  },
});
const suite = suiteByName(positionals[0] ?? "");
if (!suite || !values.rows) {
  process.stderr.write("usage: suite-child.js <suite> --rows <file> [--smoke] [--profile <dir>]\n");
  process.exit(2);
}
const rows = await suite.run({
  smoke: values.smoke === true,
  full: values.full === true,
  ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
  ...(values.profile ? { profileDir: values.profile } : {}),
  log: (message) => process.stderr.write(`  [${suite.id}] ${message}\n`),
});
writeFileSync(values.rows, JSON.stringify(rows));
// Lingering sockets (keep-alive to a stopped cloud) must not hold the suite open.
process.exit(0);
