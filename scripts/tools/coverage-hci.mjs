#!/usr/bin/env node
// `npm run coverage:hci [-- <test files>]`: line coverage of noble's and bleno's own HCI stacks
// (node_modules/@abandonware/{noble,bleno}/lib/hci-socket) from the BLE tests, issue 18. Runs vitest in a child
// process with NODE_V8_COVERAGE set, then lock-sim's coverage-main over what V8 wrote. Worker threads, not forks:
// vitest ends its forked workers without letting them write their coverage; threads write with the main process.
// Default files: the site's BLE suite (both transports) and lock-sim's HCI tests.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const files = process.argv.slice(2);
const tests = files.length > 0 ? files : ["test/site/ble.test.ts", "test/site/ble-hci.test.ts", "lock-sim/test/hci-"];
const dir = mkdtempSync(join(tmpdir(), "latchkey-hci-coverage-"));
const run = (args, env = process.env) => spawnSync(process.execPath, args, { cwd: root, env, stdio: "inherit" }).status;
try {
  const vitest = join(root, "node_modules/vitest/vitest.mjs");
  const status = run([vitest, "run", "--pool=threads", ...tests], { ...process.env, NODE_V8_COVERAGE: dir });
  if (status !== 0) {
    console.error(`the tests failed (exit ${status}): no coverage printed`);
    process.exitCode = 1;
  } else {
    console.log(`\nline coverage of @abandonware/{noble,bleno}/lib/hci-socket from ${tests.join(" ")}:`);
    process.exitCode = run([join(root, "lock-sim/dist/src/ble/hci-emulator/coverage-main.js"), dir]) ?? 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
