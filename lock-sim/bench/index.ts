import { benchFleetMemory, type FleetMemoryResult } from "./fleet-memory.js";
import { benchUnlockLatency, type UnlockLatencyResult } from "./unlock-latency.js";

export type { FleetMemoryResult, UnlockLatencyResult };
export { benchFleetMemory, benchUnlockLatency };

export interface LockSimBenchResult {
  unlock: UnlockLatencyResult;
  fleet: FleetMemoryResult;
  /** The targets: unlock p99 under 5 ms at the lock, 1,000 locks under 300 MB. */
  targets: { unlockP99Under5Ms: boolean; fleetUnder300Mb: boolean };
}

/**
 * The lock-sim benchmark (`@latchkey/lock-sim/bench`) for `npm run bench`: returns numbers, prints nothing.
 * Needs `tsc -b` first (it spawns the bin). A smoke run: `{unlockRuns: 50, locks: 20, windowSeconds: 2}`.
 */
export async function runLockSimBench(
  options: { unlockRuns?: number; locks?: number; windowSeconds?: number } = {},
): Promise<LockSimBenchResult> {
  const unlockOptions = options.unlockRuns === undefined ? {} : { runs: options.unlockRuns };
  const unlock = await benchUnlockLatency(unlockOptions);
  const fleetOptions: { locks?: number; windowSeconds?: number } = {};
  if (options.locks !== undefined) fleetOptions.locks = options.locks;
  if (options.windowSeconds !== undefined) fleetOptions.windowSeconds = options.windowSeconds;
  const fleet = await benchFleetMemory(fleetOptions);
  return {
    unlock,
    fleet,
    targets: { unlockP99Under5Ms: unlock.atLockMs.p99 < 5, fleetUnder300Mb: fleet.peakRssMb < 300 },
  };
}
