import { isImplausibleSyncVersion } from "@latchkey/protocol";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";

/** The largest version the bridge ever sends: every `v` on the wire is a safe integer (docs/mqtt.md). */
export const MAX_DESIRED_V = Number.MAX_SAFE_INTEGER;

export type VersionAlertReason = "implausible_report" | "unsafe_desired";

export interface VersionAlert {
  lockId: string;
  reason: VersionAlertReason;
  reported: number | null;
  desired: number;
  at: number;
}

/** How many alerting locks health lists (the count covers all of them). */
const LISTED = 20;

/**
 * Sync versions that cannot be right (docs/mqtt.md, "Sync versions"): a lock reporting a version no sync of this
 * bridge could have taken it to, or a desired version that would not be a safe integer. The bridge does not follow
 * them (following a report of 2^53 − 1 would make every later sync unreadable to the lock); it logs at error, counts
 * `latchkey_bridge_sync_version_alerts_total{reason}` and lists the locks in its health until they report a plausible
 * version again.
 */
export class SyncVersionAlerts {
  private readonly alerts = new Map<string, VersionAlert>();
  private total = 0;

  constructor(
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /**
   * Whether a reported version is impossible: further past the desired one than a lock lets one sync take it (a lock
   * whose bridge lost its database reports at most the old bridge's counter, which grew by one per change), or with no
   * safe integer above it.
   */
  static implausibleReport(desired: number, reported: number): boolean {
    return reported >= MAX_DESIRED_V || isImplausibleSyncVersion(desired, reported);
  }

  raise(lockId: string, reason: VersionAlertReason, desired: number, reported: number | null): void {
    this.total++;
    this.alerts.set(lockId, { lockId, reason, reported, desired, at: this.now() });
    this.metrics.syncVersionAlerts.inc({ reason });
    this.logger.error(
      { lockId, reason, reported, desired },
      reason === "implausible_report"
        ? "lock reported an impossible sync version; not following it (the lock may need re-provisioning)"
        : "desired sync version is not a safe integer; not sending it",
    );
  }

  /** The lock reported a plausible version again. */
  clear(lockId: string): void {
    this.alerts.delete(lockId);
  }

  get health(): { alerts: number; locks: VersionAlert[] } {
    return { alerts: this.total, locks: [...this.alerts.values()].slice(0, LISTED) };
  }
}
