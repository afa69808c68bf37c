import { type BatchCreateResult, benchBatchCreate } from "./batch-create.js";
import { benchIngest, type IngestResult } from "./ingest.js";
import { benchRawBaseline, type RawBaselineResult } from "./raw-baseline.js";
import { benchUnsignedIngest, type ReportIngestResult } from "./report-ingest.js";

export { type BatchCreateResult, benchBatchCreate } from "./batch-create.js";
export { benchIngest, type IngestResult } from "./ingest.js";
export { cpuMs } from "./process-cpu.js";
export { benchRawBaseline, type RawBaselineResult } from "./raw-baseline.js";
export {
  benchReportIngest,
  benchUnsignedIngest,
  type IngestBenchOptions,
  type ReportIngestResult,
} from "./report-ingest.js";
export type { BenchStore } from "./site.js";

export interface CloudBenchOptions {
  /** Keys for batch create and the raw baseline (default 10,000). */
  keys?: number;
  /** Events for ingest (default 20,000). */
  events?: number;
  /** PostgreSQL (a database; each run makes and drops a schema in it): batch create and ingest run there too. */
  databaseUrl?: string;
  log?: (message: string) => void;
}

export interface CloudBenchResult {
  raw: RawBaselineResult;
  batchCreate: BatchCreateResult[];
  ingest: IngestResult[];
  /** The unauthenticated ingest of the same events (bench/unsigned-ingest.ts), per store, after each store's ingest. */
  unsignedIngest: ReportIngestResult[];
  /** SQLite batch create keys/s over the raw baseline's (target ≥ 0.5). */
  batchCreateRatio: number;
  /** SQLite report ingest events/s over the unauthenticated ingest's (issue 13: target ≥ 0.5). */
  reportIngestRatio: number;
}

/**
 * Everything in one run: the raw baseline, then batch create and ingest (sealed reports, then the unauthenticated
 * baseline) on SQLite and, given a URL, PostgreSQL.
 */
export async function benchCloud(options: CloudBenchOptions = {}): Promise<CloudBenchResult> {
  const log = options.log ?? (() => {});
  const stores = options.databaseUrl ? [undefined, options.databaseUrl] : [undefined];
  const keys = options.keys ?? 10_000;
  log(`raw baseline: sign ${keys} tokens + insert into SQLite in one transaction`);
  const raw = benchRawBaseline({ keys });
  const batchCreate: BatchCreateResult[] = [];
  const ingest: IngestResult[] = [];
  for (const databaseUrl of stores) {
    log(`batch create ${keys} keys on ${databaseUrl ? "PostgreSQL" : "SQLite"}`);
    batchCreate.push(await benchBatchCreate({ keys, ...(databaseUrl ? { databaseUrl } : {}) }));
  }
  const unsignedIngest: ReportIngestResult[] = [];
  for (const databaseUrl of stores) {
    const ingestOptions = {
      ...(options.events !== undefined ? { events: options.events } : {}),
      ...(databaseUrl ? { databaseUrl } : {}),
    };
    log(`ingest ${options.events ?? 20_000} events on ${databaseUrl ? "PostgreSQL" : "SQLite"}, sealed, then unsigned`);
    ingest.push(await benchIngest(ingestOptions));
    unsignedIngest.push(await benchUnsignedIngest(ingestOptions));
  }
  return {
    raw,
    batchCreate,
    ingest,
    unsignedIngest,
    batchCreateRatio: batchCreate[0]!.keysPerSecond / raw.keysPerSecond,
    reportIngestRatio: ingest[0]!.eventsPerSecond / unsignedIngest[0]!.eventsPerSecond,
  };
}
export {
  benchEventCurvePoint,
  benchKeyCurvePoint,
  type EventCurvePoint,
  type KeyCurvePoint,
  PHONE_KEYS,
} from "./curves.js";
export { benchTwoClouds, type TwoCloudsMeasure, type TwoCloudsResult } from "./two-clouds.js";
