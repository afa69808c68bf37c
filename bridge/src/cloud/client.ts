import { fromBase64Url, toBase64Url } from "@latchkey/protocol";
import {
  ChangesPage,
  CommandAnswer,
  ContractError,
  LockStateAnswer,
  parse,
  REPORT_VERDICTS,
  type ReportVerdict,
  type Static,
  TimeAnswerBody,
  TokenAnswer,
  type TSchema,
} from "@latchkey/protocol/contracts";
import type { Logger } from "../ops/logger.js";
import { CloudError, CredentialsRefusedError } from "./errors.js";
import { type HttpAnswer, type HttpExchange, httpExchange } from "./http-request.js";
import type { CloudLink } from "./link.js";
import type { ActionCommand, FoundLockStatus, IngestResult, LockStateDocument, ReportsAnswer } from "./types.js";

export interface CloudClientOptions {
  url: string;
  bridgeId: string;
  secret: string;
  timeoutMs: number;
  logger: Logger;
  /** Told of every exchange's outcome (reachable, refused credentials): `/healthz` and the status page read it. */
  link?: CloudLink;
  /** The HTTP exchange (default `httpExchange`): the whole-stack suites check every answer against /docs/json. */
  exchange?: HttpExchange;
}

interface Answer {
  status: number;
  body: unknown;
}

/**
 * The bridge's side of the bridge API. Authenticates with OAuth2 client credentials (scope `bridge`), keeps the
 * access token until shortly before it expires, and fetches a new one once when a call answers 401.
 */
export class CloudClient {
  private token: { value: string; expiresAt: number } | null = null;
  private tokenRequest: Promise<string> | null = null;
  private readonly base: string;

  constructor(private readonly options: CloudClientOptions) {
    this.base = options.url.replace(/\/+$/, "");
  }

  async changes(cursor: string, waitSeconds: number, limit: number, signal?: AbortSignal): Promise<ChangesPage> {
    const query = new URLSearchParams({ cursor, wait: String(waitSeconds), limit: String(limit) });
    const answer = await this.call("changes", "GET", `/bridge/v1/changes?${query}`, undefined, {
      signal,
      extraTimeoutMs: waitSeconds * 1000,
    });
    return expectAnswer("changes", answer, ChangesPage, "not a change-feed page");
  }

  /** Presence (`POST /bridge/v1/ingest`); `body` is the JSON text of the batch, built from the stored items. */
  async ingest(body: string, signal?: AbortSignal): Promise<IngestResult> {
    const answer = await this.call("ingest", "POST", "/bridge/v1/ingest", body, { signal });
    return answer.body as IngestResult;
  }

  /**
   * Sealed reports (`POST /bridge/v1/reports`, docs/bridge-api.md "Reports from the lock"): answers one verdict per
   * item, in item order. An answer that does not give every item of the `count` exactly one verdict is an
   * `invalid_answer` (the batch is sent again: what the cloud stored comes back as `duplicate`).
   */
  async reports(body: string, count: number, signal?: AbortSignal): Promise<ReportsAnswer> {
    const answer = await this.call("reports", "POST", "/bridge/v1/reports", body, { signal });
    const results = (answer.body as { results?: unknown } | null)?.results;
    const verdicts: ReportsAnswer["verdicts"] = new Array(count);
    if (Array.isArray(results) && results.length === count) {
      for (const r of results as Array<{ index?: unknown; verdict?: unknown; message?: unknown }>) {
        const index = r?.index;
        if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= count) break;
        if (verdicts[index] !== undefined || typeof r.verdict !== "string") break;
        const known = (REPORT_VERDICTS as readonly string[]).includes(r.verdict);
        verdicts[index] = {
          verdict: known ? (r.verdict as ReportVerdict) : "other",
          ...(typeof r.message === "string" ? { message: r.message.slice(0, 300) } : {}),
        };
      }
    }
    for (let i = 0; i < count; i++)
      if (verdicts[i] === undefined)
        throw new CloudError("reports", answer.status, "invalid_answer", `no verdict for item ${i} of ${count}`);
    return { verdicts };
  }

  /**
   * Asks the cloud to sign a remote action's command for the lock's `nonce` (docs/bridge-api.md "Remote actions"):
   * answers the authority's command bytes, untouched. 404: not this bridge's action; 409 `action_closed`.
   */
  async actionCommand(
    actionId: string,
    lockId: string,
    nonce: Uint8Array,
    signal?: AbortSignal,
  ): Promise<ActionCommand> {
    const answer = await this.call(
      "action command",
      "POST",
      `/bridge/v1/actions/${encodeURIComponent(actionId)}/command`,
      JSON.stringify({ nonce: toBase64Url(nonce) }),
      { signal },
    );
    const what = "not a command for this action";
    const ours = (b: CommandAnswer) => b.actionId === actionId && b.lockId === lockId;
    const body = expectAnswer("action command", answer, CommandAnswer, what, ours);
    return { actionId, lockId, command: expectBytes("action command", answer, what, body.command) };
  }

  /** Reports that a remote action failed at the lock or could not reach it; success is only ever the lock's word. */
  async actionResult(
    actionId: string,
    failure: { code: string; message?: string },
    signal?: AbortSignal,
  ): Promise<void> {
    const body = { ok: false, code: failure.code.slice(0, 64), message: failure.message?.slice(0, 300) };
    await this.call(
      "action result",
      "POST",
      `/bridge/v1/actions/${encodeURIComponent(actionId)}/result`,
      JSON.stringify(body),
      { signal },
    );
  }

  async reportState(vendorConnectionId: string, state: string, reason?: string): Promise<void> {
    const body = JSON.stringify(reason === undefined ? { state } : { state, reason });
    await this.call(
      "vendor state",
      "PUT",
      `/bridge/v1/vendor-connections/${encodeURIComponent(vendorConnectionId)}/state`,
      body,
    );
  }

  async reportLocks(vendorConnectionId: string, locks: { id: string }[]): Promise<FoundLockStatus[]> {
    const answer = await this.call(
      "found locks",
      "PUT",
      `/bridge/v1/vendor-connections/${encodeURIComponent(vendorConnectionId)}/locks`,
      JSON.stringify({ locks }),
    );
    return ((answer.body as { locks?: FoundLockStatus[] } | null)?.locks ?? []) as FoundLockStatus[];
  }

  async heartbeat(version: string, locksOnline: number, signal?: AbortSignal): Promise<void> {
    await this.call("heartbeat", "POST", "/bridge/v1/heartbeat", JSON.stringify({ version, locksOnline }), { signal });
  }

  /**
   * The latest signed state of a lock (docs/bridge-api.md, "Signed lock state and time"); null when the cloud has none
   * for this bridge (404: not claimed, not served here, or claimed by another lock holder).
   */
  async lockState(lockId: string, signal?: AbortSignal): Promise<LockStateDocument | null> {
    let answer: Answer;
    try {
      answer = await this.call("lock state", "GET", `/bridge/v1/locks/${encodeURIComponent(lockId)}/state`, undefined, {
        signal,
      });
    } catch (e) {
      if (e instanceof CloudError && e.status === 404) return null;
      throw e;
    }
    const what = "not a signed lock state of this lock";
    // The contract says integers; versions are compared, so they must also be exact (safe) and v a real version.
    const ours = (b: LockStateAnswer) =>
      b.lockId === lockId && Number.isSafeInteger(b.v) && b.v >= 1 && Number.isSafeInteger(b.iat);
    const body = expectAnswer("lock state", answer, LockStateAnswer, what, ours);
    return { lockId, v: body.v, iat: body.iat, state: expectBytes("lock state", answer, what, body.state) };
  }

  /** Carries a lock's time request to the cloud and returns the signed answer's bytes (docs/bridge-api.md). */
  async timeAnswer(lockId: string, request: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    const answer = await this.call(
      "time answer",
      "POST",
      `/bridge/v1/locks/${encodeURIComponent(lockId)}/time`,
      JSON.stringify({ request: toBase64Url(request) }),
      { signal },
    );
    const what = "not a time answer for this lock";
    const body = expectAnswer("time answer", answer, TimeAnswerBody, what, (b) => b.lockId === lockId);
    return expectBytes("time answer", answer, what, body.answer);
  }

  private async accessToken(signal?: AbortSignal): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now()) return this.token.value;
    if (!this.tokenRequest) {
      this.tokenRequest = this.fetchToken(signal).finally(() => {
        this.tokenRequest = null;
      });
    }
    return this.tokenRequest;
  }

  private async fetchToken(signal?: AbortSignal): Promise<string> {
    const answer = await this.send(
      "token",
      "POST",
      "/auth/v1/token",
      JSON.stringify({
        grant_type: "client_credentials",
        client_id: this.options.bridgeId,
        client_secret: this.options.secret,
        scope: "bridge",
      }),
      undefined,
      { signal },
    );
    const body = expectAnswer("token", answer, TokenAnswer, "not an access token");
    const lifetime = body.expires_in;
    // Renew a minute early (or at half-life for short tokens) so a call never starts with a token about to lapse.
    const margin = Math.min(60, lifetime / 2);
    this.token = { value: body.access_token, expiresAt: Date.now() + (lifetime - margin) * 1000 };
    return body.access_token;
  }

  private async call(
    operation: string,
    method: string,
    path: string,
    body?: string,
    options: { signal?: AbortSignal; extraTimeoutMs?: number } = {},
  ): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.accessToken(options.signal);
      try {
        return await this.send(operation, method, path, body, token, options);
      } catch (e) {
        if (attempt === 0 && e instanceof CloudError && e.status === 401) {
          this.token = null;
          continue;
        }
        throw e;
      }
    }
  }

  private async send(
    operation: string,
    method: string,
    path: string,
    body: string | undefined,
    token: string | undefined,
    options: { signal?: AbortSignal; extraTimeoutMs?: number },
  ): Promise<Answer> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs + (options.extraTimeoutMs ?? 0));
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    let response: HttpAnswer;
    try {
      response = await (this.options.exchange ?? httpExchange)(this.base + path, { method, headers, body, signal });
    } catch (e) {
      const reason = timeout.aborted ? "timeout" : options.signal?.aborted ? "aborted" : "unreachable";
      const error = new CloudError(
        operation,
        0,
        reason,
        (e as Error).cause ? String((e as Error).cause) : (e as Error).message,
      );
      // The bridge's own abort (stopping) says nothing about the cloud.
      if (reason !== "aborted") this.options.link?.unreachable(operation, error);
      throw error;
    }
    const text = response.text;
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    const link = this.options.link;
    if (response.status >= 200 && response.status < 300) {
      link?.succeeded();
      return { status: response.status, body: parsed };
    }
    const answer = parsed as { error?: unknown; errorDescription?: unknown } | null;
    const code = typeof answer?.error === "string" ? answer.error : "http_error";
    const description = typeof answer?.errorDescription === "string" ? answer.errorDescription.slice(0, 300) : "";
    if (operation === "token" && response.status === 401) {
      // Wrong bridgeId or secret (or a revoked secret): no retry fixes that, so it is an error naming the setting.
      const refused = new CredentialsRefusedError(response.status, code, description);
      link?.refused(refused);
      throw refused;
    }
    const error = new CloudError(operation, response.status, code, description);
    if (response.status >= 500) link?.unreachable(operation, error);
    // A 401 on a call is an expired token (`call` logs in again and retries once); a 404 (no such document or action
    // for this bridge) and a 409 (an action already closed) are answers the callers expect: none of them is news.
    else if (response.status === 404 || response.status === 409) link?.succeeded();
    else if (response.status !== 401) link?.answered(operation, error);
    throw error;
  }
}

/**
 * The answer's body as its contract types it, when it is also the one asked for (`ours`: the same lock, action…).
 * Otherwise an `invalid_answer`: `what` the answer is not, with the first field that fails its contract.
 */
function expectAnswer<T extends TSchema>(
  operation: string,
  answer: Answer,
  schema: T,
  what: string,
  ours: (body: Static<T>) => boolean = () => true,
): Static<T> {
  let body: Static<T>;
  try {
    body = parse(schema, answer.body);
  } catch (e) {
    if (!(e instanceof ContractError)) throw e;
    throw new CloudError(operation, answer.status, "invalid_answer", `${what}: ${e.message}`);
  }
  if (!ours(body)) throw new CloudError(operation, answer.status, "invalid_answer", what);
  return body;
}

/** Base64url to bytes; an `invalid_answer` for anything else (an empty string included: no document is empty). */
function expectBytes(operation: string, answer: Answer, what: string, text: string): Uint8Array {
  if (text.length > 0 && /^[A-Za-z0-9_-]+$/.test(text)) {
    try {
      return fromBase64Url(text);
    } catch {
      // not base64url after all: refused below
    }
  }
  throw new CloudError(operation, answer.status, "invalid_answer", what);
}
