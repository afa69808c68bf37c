import { backlogSuite } from "./backlog-suite.js";
import { bridgeProcessSuite } from "./bridge-process-suite.js";
import { eventsCurveSuite, keysCurveSuite } from "./cloud-curves-suite.js";
import { cloudSuite } from "./cloud-suite.js";
import { eventsSuite } from "./events-suite.js";
import { locksCurveSuite } from "./locks-curve-suite.js";
import { moduleCostSuite } from "./module-cost-suite.js";
import { propagationSuite } from "./propagation-suite.js";
import { protocolSuite } from "./protocol-suite.js";
import type { BenchSuite } from "./rows.js";
import { twoCloudsSuite } from "./two-clouds-suite.js";
import { unlockSuite } from "./unlock-suite.js";

/** Every suite, in the order `npm run bench` runs them (the table order). */
export const SUITES: BenchSuite[] = [
  protocolSuite,
  cloudSuite,
  eventsSuite,
  backlogSuite,
  propagationSuite,
  unlockSuite,
  bridgeProcessSuite,
  moduleCostSuite,
  twoCloudsSuite,
  // The growth curves (issue 17 item 3), opt-in: `--curves`.
  locksCurveSuite,
  keysCurveSuite,
  eventsCurveSuite,
];

/** A suite by its id or by the name of any of its rows. */
export function suiteByName(name: string): BenchSuite | undefined {
  return SUITES.find((s) => s.id === name || s.rows.some((r) => r.name === name));
}
