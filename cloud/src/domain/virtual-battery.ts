import { createHash } from "node:crypto";
import { batteryStateFor } from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import type { BatteryRecord, LockRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { batteryEvent, queueWebhookEvent } from "./webhook-events.js";

/**
 * The simulated battery of a cloud-hosted (virtual) lock, so integrators' code meets a battery as it would on a real
 * lock, not null. Deterministic: the level a lock starts at comes from its id (itself from the cloud's seeded
 * randomness), and it drains with the cloud's clock. A virtual lock "reports" it when it is created and each time it
 * is used (a challenge or an unlock), as a real lock's telemetry comes with its activity.
 */

/** A fresh virtual lock starts between 90 and 100 %... */
const START_MIN_PERCENT = 90;
/** ...and loses one percent every three days: `low` (20 %) after seven months or so. */
export const VIRTUAL_DRAIN_SECONDS_PER_PERCENT = 3 * 86_400;
/** Two AA cells: about 3.0 V full, 2.4 V empty. */
const EMPTY_MV = 2400;
const MV_PER_PERCENT = 6;

export function virtualBattery(lock: Pick<LockRecord, "id" | "createdAt">, nowMs: number): BatteryRecord {
  const start = START_MIN_PERCENT + (createHash("sha256").update(lock.id).digest()[0]! % (101 - START_MIN_PERCENT));
  const drained = Math.max(0, Math.floor((nowMs - lock.createdAt) / (VIRTUAL_DRAIN_SECONDS_PER_PERCENT * 1000)));
  const level = Math.max(1, start - drained);
  return {
    level,
    mv: EMPTY_MV + level * MV_PER_PERCENT,
    state: batteryStateFor(level),
    tsS: Math.floor(nowMs / 1000),
    updatedAt: nowMs,
  };
}

/**
 * Stores the virtual lock's reading as of `nowMs` and, as a real lock's telemetry does (domain/reports.ts), queues
 * `lock.battery_low` / `lock.battery_critical` when it crossed down into that band (docs/webhooks.md). The level only
 * falls with the clock, so each band is announced once per lock.
 */
export async function storeVirtualBattery(tx: Tx, ctx: CloudContext, lock: LockRecord, nowMs: number): Promise<void> {
  const reading = virtualBattery(lock, nowMs);
  const event = batteryEvent(lock, reading);
  await tx.locks.setBattery(lock.id, reading);
  if (event) await queueWebhookEvent(tx, ctx, event);
}
