import { benchReportIngest, type ReportIngestResult } from "./report-ingest.js";

export type IngestResult = ReportIngestResult;

/**
 * Event ingest as a bridge uploads its outbox. Since the switch-over events reach the cloud only as the lock's sealed
 * reports (`POST /bridge/v1/ingest` takes presence alone, docs/bridge-api.md), so this measures
 * `POST /bridge/v1/reports`: the same as benchReportIngest, kept under this name for the suites that report it.
 */
export function benchIngest(
  options: { events?: number; perRequest?: number; databaseUrl?: string } = {},
): Promise<IngestResult> {
  return benchReportIngest(options);
}
