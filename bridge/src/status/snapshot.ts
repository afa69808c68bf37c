import type { RecentAction } from "../actions/action-runner.js";
import type { BleAdapterStatus } from "../ble/ble-adapter.js";
import type { CloudLinkStatus } from "../cloud/link.js";
import type { LockActivity, SeenEvent } from "../locks/lock-activity.js";
import type { LockInfo } from "../locks/registry.js";
import type { Degradation } from "../ops/degraded.js";
import type { OutboxStatus } from "../outbox/outbox.js";
import type { VendorConnectionStatus } from "../vendors/vendor-connections.js";

/**
 * What the status page shows (bridge/README.md "Status page"): JSON, times in unix milliseconds. Each value says whose
 * word it is: `online` is the bridge's (a lock's MQTT session or BLE visit); battery, lock state, last seen, events and
 * the version a lock runs are the lock's unauthenticated word as the bridge peeked it (it holds no report key); report
 * refusals are the cloud's verdicts; `heldV` is the latest signed state the bridge holds for the lock.
 */
export interface SiteStatus {
  bridge: {
    id: string;
    version: string;
    status: string;
    degraded: Degradation[];
    startedAt: number;
  };
  broker: { kind: string; url: string; connected: boolean };
  cloud: CloudLinkStatus;
  feed: { caughtUp: boolean; lastSuccessAt: number | null; lastError: string | null };
  upload: { reportsRefused: Record<string, number> };
  outbox: OutboxStatus;
  /** null: BLE is off (`ble.enabled: false`). */
  ble: BleAdapterStatus | null;
  actions: {
    pending: number;
    inFlight: number;
    outcomes: Record<string, number>;
    recent: RecentAction[];
  };
  vendorConnections: VendorConnectionStatus[];
}

export interface LockStatus {
  lockId: string;
  transport: string | null;
  assigned: boolean;
  claimed: boolean | null;
  /** The bridge's word. */
  online: boolean;
  /** Unauthenticated (peeked from the lock's reports, or its `ping`). */
  lockState: string | null;
  battery: { level: number; mv: number; state: string } | null;
  lastSeenAt: number | null;
  runsV: number | null;
  runsVFrom: "report" | "ping" | null;
  events: SeenEvent[];
  dropped: number;
  /** The latest signed state `v` the bridge holds for the lock (null: none). */
  heldV: number | null;
  /** The cloud's verdicts on this lock's reports other than ok/duplicate, since start. */
  refusals: Record<string, number>;
}

export function lockStatus(lock: LockInfo, activity: LockActivity, heldV: number | undefined): LockStatus {
  const a = activity.get(lock.lockId);
  return {
    lockId: lock.lockId,
    transport: lock.transport,
    assigned: lock.assigned,
    claimed: lock.claimed,
    online: lock.online,
    lockState: lock.lockState,
    battery: lock.battery,
    lastSeenAt: a?.lastSeenAt ?? lock.lastSeenAt,
    runsV: a?.runsV ?? null,
    runsVFrom: a?.runsVFrom ?? null,
    events: a?.events ?? [],
    dropped: a?.dropped ?? 0,
    heldV: heldV ?? null,
    refusals: a?.refusals ?? {},
  };
}
