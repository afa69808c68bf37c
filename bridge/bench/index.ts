import { type BridgeEventsResult, benchBridgeEvents } from "./bridge-events.js";
import type { BenchSite, RegisterBenchSite } from "./cloud-site.js";
import { type BridgeMemoryResult, benchBridgeMemory } from "./memory.js";
import { benchModuleCost, type ModuleCost } from "./module-cost.js";
import { benchRawAedes, type ThroughputResult } from "./raw-aedes.js";
import type { Percentiles } from "./stats.js";

export type {
  BenchSite,
  BridgeEventsResult,
  BridgeMemoryResult,
  ModuleCost,
  Percentiles,
  RegisterBenchSite,
  ThroughputResult,
};
export { benchBridgeEvents, benchBridgeMemory, benchModuleCost, benchRawAedes };

export interface BridgeBenchResult {
  rawAedes: ThroughputResult;
  bridgeEvents: BridgeEventsResult;
  /** bridgeEvents.perSecond / rawAedes.perSecond. */
  ratioToRawAedes: number;
  memory: BridgeMemoryResult;
  /** The targets. */
  targets: {
    eventsPerSecondAtLeast5000: boolean;
    atLeastHalfOfRawAedes: boolean;
    rssUnder120MbWith1000Locks: boolean;
  };
}

/**
 * The bridge benchmark: returns numbers, prints nothing. Needs a running cloud in which `register` sets up a fresh site
 * per run, and `tsc -b` (the memory run spawns bin/latchkey-bridge.js). Key and revocation propagation to a real lock is
 * `npm run bench`'s propagation suite (scripts/), with the lock simulator.
 */
export async function runBridgeBench(options: {
  register: RegisterBenchSite;
  locks?: number;
  eventsPerLock?: number;
  memoryLocks?: number;
}): Promise<BridgeBenchResult> {
  const clients = options.locks ?? 100;
  const perLock = options.eventsPerLock ?? 200;
  const rawAedes = await benchRawAedes({ clients, messagesPerClient: perLock });
  const bridgeEvents = await benchBridgeEvents({
    site: await options.register(`bench-events-${Date.now()}`),
    locks: clients,
    eventsPerLock: perLock,
  });
  const memory = await benchBridgeMemory({
    site: await options.register(`bench-memory-${Date.now()}`),
    locks: options.memoryLocks ?? 1000,
  });
  const ratio = Math.round((bridgeEvents.perSecond / rawAedes.perSecond) * 100) / 100;
  return {
    rawAedes,
    bridgeEvents,
    ratioToRawAedes: ratio,
    memory,
    targets: {
      eventsPerSecondAtLeast5000: bridgeEvents.perSecond >= 5000,
      atLeastHalfOfRawAedes: ratio >= 0.5,
      rssUnder120MbWith1000Locks: memory.rssWithLocksMb < 120,
    },
  };
}
export { CONNECT_RETRY } from "./lock-clients.js";
export { benchLocksCurvePoint, type LocksCurvePoint } from "./locks-curve.js";
