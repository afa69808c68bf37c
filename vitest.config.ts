import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests import the workspace packages from source, so a change in protocol/ is seen without a rebuild.
// Spawned processes (bins) still run the built dist/, which `npm test` builds first with `tsc -b`.
const root = fileURLToPath(new URL(".", import.meta.url));
const alias = [
  // `@latchkey/<pkg>/bench` is each package's benchmark entry; `@latchkey/<pkg>` its public API.
  { find: /^@latchkey\/(protocol|lock-sim|bridge|cloud)\/bench$/, replacement: `${root}$1/bench/index.ts` },
  // protocol's test vectors (hostile tokens and reports): shared with the whole-site suites, never shipped.
  { find: /^@latchkey\/protocol\/testing\/(.+)$/, replacement: `${root}protocol/test/vectors/$1.ts` },
  // The one BLE GATT client (central side), pure: the bridge's gateway and the phone drive it through runtime's noble.
  { find: /^@latchkey\/protocol\/ble$/, replacement: `${root}protocol/src/ble/gatt-client.ts` },
  // lock-sim's emulated HCI controllers (whole-stack BLE tests on noble's and bleno's real stacks).
  { find: /^@latchkey\/lock-sim\/hci-emulator$/, replacement: `${root}lock-sim/src/ble/hci-emulator/index.ts` },
  // The site harness of the whole-stack tests and the benchmarks.
  { find: /^@latchkey\/scripts\/site$/, replacement: `${root}scripts/src/site/index.ts` },
  { find: /^@latchkey\/(protocol|runtime|lock-sim|bridge|cloud|scripts)$/, replacement: `${root}$1/src/index.ts` },
  // protocol's wire contracts of the cloud's HTTP APIs (TypeBox schemas and their types).
  { find: /^@latchkey\/protocol\/contracts$/, replacement: `${root}protocol/src/contracts/index.ts` },
  // Typed clients of those three APIs, over an injected fetch.
  { find: /^@latchkey\/protocol\/clients$/, replacement: `${root}protocol/src/clients/index.ts` },
];

// Test files share their worker's module graph (isolate: false): importing the cloud's and the bridge's source graphs
// afresh for every file (TypeScript transformed, fastify, TypeBox, the OpenAPI document) was ~40 % of the whole run's
// CPU, and `npm test` is CPU-bound on 2 cores (issue 17, scripts/README.md "the test run"). Each file still gets its
// own setup files, and no test mocks modules; a project whose files leave process-wide state behind opts back in.
const project = (name: string, include: string[], extra: Record<string, unknown> = {}) => ({
  resolve: { alias },
  test: { name, include, isolate: false, testTimeout: 30_000, hookTimeout: 30_000, ...extra },
});

export default defineConfig({
  test: {
    // Two test files at a time even on a 2-core machine (vitest's default there is one): most of a file's time is
    // waiting on sockets, child processes and timers, not CPU. Timing never decides a test (injected clocks; waits poll
    // for a condition with generous deadlines), so a busy machine makes tests slower, not wrong.
    maxWorkers: 2,
    projects: [
      project("protocol", ["protocol/test/**/*.test.ts", "protocol/cli/test/**/*.test.ts"]),
      project("runtime", ["runtime/test/**/*.test.ts"], { passWithNoTests: true }),
      // Isolated: the BLE tests load bleno and noble over an emulated HCI socket, and a later file's "no Bluetooth
      // adapter on this host" would find them already loaded.
      project("lock-sim", ["lock-sim/test/**/*.test.ts"], { isolate: true }),
      project("bridge", ["bridge/test/**/*.test.ts"]),
      project("cloud", ["cloud/test/**/*.test.ts"]),
      // The cloud suite again on PostgreSQL (a schema per test cloud); skips with its reason without DATABASE_URL.
      project("cloud-postgres", ["cloud/test/**/*.test.ts"], {
        exclude: ["cloud/test/postgres/**", "cloud/test/store.test.ts", "cloud/test/bench.test.ts"],
        env: { LATCHKEY_TEST_STORE: "postgres" },
        setupFiles: ["cloud/test/postgres-setup.ts"],
      }),
      project("scripts", ["scripts/test/**/*.test.ts"]),
      // The whole-stack projects check every answer of a cloud against its OpenAPI document (issue 14).
      project("site", ["test/site/**/*.test.ts"], {
        // Isolated as lock-sim is: ble-hci.test.ts loads bleno and noble over emulated HCI controllers.
        isolate: true,
        testTimeout: 120_000,
        hookTimeout: 120_000,
        setupFiles: ["test/src/openapi-setup.ts"],
      }),
      project("e2e", ["test/e2e/**/*.test.ts"], {
        testTimeout: 120_000,
        hookTimeout: 120_000,
        setupFiles: ["test/src/openapi-setup.ts"],
      }),
      // Faults, hostile input and who-may-do-what (issue 7); the global setup prints the run's totals at the end.
      project("reliability", ["test/reliability/**/*.test.ts"], {
        testTimeout: 300_000,
        hookTimeout: 120_000,
        globalSetup: ["test/reliability/global-setup.ts"],
        setupFiles: ["test/src/openapi-setup.ts"],
      }),
    ],
  },
});
