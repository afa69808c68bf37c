import type {
  ChangesAnswer,
  ChangesQuery,
  CommandAnswer,
  CommandRequest,
  FoundLocks,
  FoundLocksAnswer,
  Heartbeat,
  IngestAnswer,
  IngestBatch,
  LockStateAnswer,
  ReportUpload,
  ReportUploadAnswer,
  ResultReport,
  StateReport,
  TimeAnswerBody,
  TimeRequestBody,
} from "../contracts/index.js";
import { BearerClient, type ClientOptions } from "./bearer.js";

const enc = encodeURIComponent;

/**
 * A typed client of the bridge API (`/bridge/v1`, docs/bridge-api.md) over the fetch it is handed, as a bridge speaks
 * it: for tests and benchmarks that play a bridge against a real cloud (the bridge daemon itself keeps its own client,
 * with retries, backoff and its outbox). It logs in with the bridge's id and secret (scope `bridge`) and again once on a
 * 401. Every method throws ApiError on a non-2xx answer; `request` answers any status.
 */
export class BridgeApiClient extends BearerClient {
  constructor(apiUrl: string, credentials: { bridgeId: string; secret: string }, options: ClientOptions = {}) {
    super(
      apiUrl,
      { clientId: credentials.bridgeId, clientSecret: credentials.secret, scope: "bridge" },
      "/bridge/v1",
      options,
    );
  }

  /** One page of the change feed (long-polls up to `wait` seconds). */
  changes(query: Partial<ChangesQuery> = {}): Promise<ChangesAnswer> {
    return this.ok("GET", "/changes", undefined, { query: { ...query } });
  }

  async reportState(vendorConnectionId: string, report: StateReport): Promise<void> {
    await this.ok("PUT", `/vendor-connections/${enc(vendorConnectionId)}/state`, report);
  }

  /** The locks the connection reaches (the full list each time). */
  reportLocks(vendorConnectionId: string, found: FoundLocks): Promise<FoundLocksAnswer> {
    return this.ok("PUT", `/vendor-connections/${enc(vendorConnectionId)}/locks`, found);
  }

  async heartbeat(beat: Heartbeat): Promise<void> {
    await this.ok("POST", "/heartbeat", beat);
  }

  /** Presence of the locks (events and telemetry reach the cloud only as sealed reports). */
  ingest(batch: IngestBatch): Promise<IngestAnswer> {
    return this.ok("POST", "/ingest", batch);
  }

  /** The locks' sealed reports, judged one by one (docs/reports.md). */
  uploadReports(upload: ReportUpload): Promise<ReportUploadAnswer> {
    return this.ok("POST", "/reports", upload);
  }

  /** The lock's latest signed state (docs/trust.md "Cloud"). */
  lockState(lockId: string): Promise<LockStateAnswer> {
    return this.ok("GET", `/locks/${enc(lockId)}/state`);
  }

  /** A signed time answer for the lock's request. */
  timeAnswer(lockId: string, request: TimeRequestBody): Promise<TimeAnswerBody> {
    return this.ok("POST", `/locks/${enc(lockId)}/time`, request);
  }

  /** The signed remote command for an action, over the lock's nonce (docs/bridge-api.md "Remote actions"). */
  actionCommand(actionId: string, request: CommandRequest): Promise<CommandAnswer> {
    return this.ok("POST", `/actions/${enc(actionId)}/command`, request);
  }

  async actionResult(actionId: string, report: ResultReport): Promise<void> {
    await this.ok("POST", `/actions/${enc(actionId)}/result`, report);
  }
}
