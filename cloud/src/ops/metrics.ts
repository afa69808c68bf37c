import { REPORT_VERDICTS, type ReportVerdict as ReportIngestVerdict } from "@latchkey/protocol/contracts";
import { Counter, collectDefaultMetrics, Registry } from "prom-client";
import type { RemoteActionStatus } from "../store/records.js";

const ACTION_STATUSES: readonly RemoteActionStatus[] = ["pending", "sent", "succeeded", "failed", "expired"];

/**
 * The cloud's Prometheus metrics (docs/bridge-api.md "Reports from the lock", docs/reports.md "What a cloud stores"),
 * on a registry of their own: several clouds share a process in tests. Each process counts what it committed; with
 * several processes on one PostgreSQL database, sum over them. Counters move only after the transaction that made the
 * change committed (a PostgreSQL retry runs the work again: counting inside it would count twice).
 */
export class CloudMetrics {
  readonly registry = new Registry();

  /** Every item of `POST /bridge/v1/reports` by its verdict, `ok` and `duplicate` included. */
  readonly reports: Counter<"verdict">;
  /** Runs of report counters a lock skipped (each answered in `gaps`: lost for good). */
  readonly reportGaps: Counter;
  /** Report counters in those runs: reports known missing. */
  readonly reportsMissing: Counter;
  /** Remote actions by the status they reached. */
  readonly remoteActions: Counter<"status">;

  /**
   * `processMetrics`: prom-client's default process and Node.js metrics (CPU, memory, event loop lag, GC). Only for a
   * cloud whose metrics are served: each registration starts an event-loop monitor and a GC observer that live as long
   * as the process, which a process starting hundreds of clouds (the tests) should not pile up.
   */
  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.reports = new Counter({
      name: "latchkey_cloud_reports_total",
      help:
        "Lock reports judged at POST /bridge/v1/reports, by verdict: ok (stored), duplicate (a retry of one stored), " +
        "and the refusals forged, wrong_lock, replayed, malformed, unknown_key, unclaimed (docs/reports.md)",
      labelNames: ["verdict"],
      registers,
    });
    this.reportGaps = new Counter({
      name: "latchkey_cloud_report_gaps_total",
      help: "Gaps in the lock report counters: runs of counters skipped before a later report was accepted",
      registers,
    });
    this.reportsMissing = new Counter({
      name: "latchkey_cloud_reports_missing_total",
      help: "Lock report counters in those gaps: reports a courier dropped or lost, never to be accepted",
      registers,
    });
    this.remoteActions = new Counter({
      name: "latchkey_cloud_remote_actions_total",
      help:
        "Remote actions by the status they reached: pending (created for a bridge), sent (command signed), " +
        "succeeded (the lock's report; a virtual lock's at once), failed (the bridge's word), expired",
      labelNames: ["status"],
      registers,
    });
    // Every series from the start, so a rate over a verdict never seen yet is 0 rather than absent.
    for (const verdict of REPORT_VERDICTS) this.reports.inc({ verdict }, 0);
    for (const status of ACTION_STATUSES) this.remoteActions.inc({ status }, 0);
    if (options.processMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: "latchkey_cloud_" });
      // Gauges named `_total`, which promtool refuses for anything but a counter (as the bridge does,
      // bridge/src/ops/metrics.ts); the per-type gauges without `_total` carry the same numbers.
      for (const name of [
        "nodejs_active_resources_total",
        "nodejs_active_handles_total",
        "nodejs_active_requests_total",
      ])
        this.registry.removeSingleMetric(`latchkey_cloud_${name}`);
    }
  }

  /** One committed report upload: its verdict counts and the counter gaps it opened. */
  countReports(counts: Readonly<Record<ReportIngestVerdict, number>>, gaps: { opened: number; missing: number }): void {
    for (const verdict of REPORT_VERDICTS) if (counts[verdict] > 0) this.reports.inc({ verdict }, counts[verdict]);
    if (gaps.opened > 0) this.reportGaps.inc(gaps.opened);
    if (gaps.missing > 0) this.reportsMissing.inc(gaps.missing);
  }

  /** Committed action transitions. */
  countActions(status: RemoteActionStatus, n = 1): void {
    if (n > 0) this.remoteActions.inc({ status }, n);
  }
}
