import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  deriveReportKey,
  fromBase64Url,
  judgeReportBatch,
  type LockEvent,
  type LockReportState,
  type ReportVerdict,
  resultMatchesCommand,
  signRemoteCommand,
  type Telemetry,
  toHex,
} from "@latchkey/protocol";
import { AUTHORITY, CLOUD_REPORT_KEY } from "./fixtures.js";

/**
 * A real HTTP server speaking the bridge API of docs/bridge-api.md, for the bridge's component tests (the bridge may
 * not import the cloud; the whole-site tests in test/site use the real one). It keeps a change feed the test appends
 * to, records state and lock reports, serves signed states and time answers, and can be switched to answer 503.
 *
 * `POST /bridge/v1/reports` judges for real, with protocol's `judgeReportBatch` under the stand-in cloud's report key
 * (fixtures: CLOUD_REPORT_KEY): the lock's keys pinned from its first accepted item, `duplicate` for an authentic
 * item whose counter was accepted with the same bytes, `unclaimed` for a lock not served. `/bridge/v1/ingest` takes
 * presence only and refuses events and telemetry with 400, as the cloud does after the switch-over.
 *
 * The remote-action endpoints (`POST /bridge/v1/actions/{id}/command|result`) follow docs/bridge-api.md "Remote
 * actions" exactly: the cloud's own land from another branch (issue 13's cloud work), so this stand-in is the only
 * counterpart the bridge's side can be tested against here; it signs commands with the test authority.
 */
export interface StoredEvent {
  lockId: string;
  event: LockEvent;
  ctr: number;
}

export interface TestAction {
  id: string;
  lockId: string;
  action: "unlock" | "lock";
  status: "pending" | "sent" | "succeeded" | "failed" | "expired";
  expiresAt: number;
  nonce?: Uint8Array;
  error?: { code: string; message?: string };
}

export class TestCloud {
  url = "";
  constructor(readonly bridgeId = "br-test") {}
  readonly secret = "bridge-secret-123456";
  private server: Server | null = null;
  private changes: Array<Record<string, unknown>> = [];
  private waiters = new Set<() => void>();
  /** Events of `ok` reports, by event id (hex). */
  readonly events = new Map<string, StoredEvent>();
  /** Telemetry of `ok` reports. */
  readonly telemetry: Telemetry[] = [];
  /** Every reports item received, as sent (report bytes decoded from base64url). */
  readonly reportItems: Array<{ lockId: string; report: Uint8Array; keys?: { identity: string; x25519: string } }> = [];
  /** Verdicts answered, by verdict. */
  readonly verdicts: Record<string, number> = {};
  private readonly reportState = new Map<string, LockReportState>();
  private readonly pinnedKeys = new Map<string, { identity: string; x25519: string }>();
  private readonly accepted = new Map<string, Uint8Array>();
  reportBatches = 0;
  /** Answer reports after this promise resolves (lets a test hold an upload in flight). */
  reportsGate: Promise<void> | null = null;
  /** Called when a reports request arrives (before the gate). */
  onReports: (() => void) | null = null;
  /** While above 0, reports batches are answered without verdicts (a broken answer), and counted down. */
  brokenReportAnswers = 0;
  /** Remote actions by id. */
  readonly actions = new Map<string, TestAction>();
  private readonly commandCounters = new Map<string, number>();
  readonly presence: Array<{ lockId: string; online: boolean; ts: number }> = [];
  readonly stateReports: Array<{ vcId: string; state: string; reason?: string }> = [];
  readonly lockReports: Array<{ vcId: string; locks: string[] }> = [];
  /** Vendor connections whose found-locks list is refused with 400, as the cloud refuses one over the contract's cap. */
  readonly refuseLockLists = new Set<string>();
  readonly cursorsAsked: string[] = [];
  heartbeats = 0;
  ingestBatches = 0;
  /** When set, every bridge API call answers 503. */
  down = false;
  /** Lock ids this bridge may ingest for (else 400, like the cloud). */
  readonly servedLocks = new Set<string>();
  private token = "t-0";
  /** Signed states by lock (`GET /bridge/v1/locks/{id}/state`); a lock without one answers 404 like the cloud. */
  readonly states = new Map<string, { v: number; iat: number; state: Uint8Array }>();
  /** Lock ids whose state the bridge asked for, in order. */
  readonly stateFetches: string[] = [];
  /** Signs a time answer (`POST /bridge/v1/locks/{id}/time`); null: 404. */
  timeAnswerer: ((lockId: string, request: Uint8Array) => Uint8Array) | null = null;
  /** Time requests the bridge relayed, by lock. */
  readonly timeRequests: Array<{ lockId: string; request: Uint8Array }> = [];
  /** Answer time requests after this promise resolves. */
  timeGate: Promise<void> | null = null;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((e: Error) => this.send(res, 500, { error: "internal", errorDescription: e.message }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const w of this.waiters) w();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A remote action on the feed (docs/bridge-api.md), expiring at `expiresAt` (unix ms). */
  addAction(id: string, lockId: string, action: "unlock" | "lock", expiresAt: number): TestAction {
    const entry: TestAction = { id, lockId, action, status: "pending", expiresAt };
    this.actions.set(id, entry);
    this.append({ kind: "action", actionId: id, lockId, action, expiresAt: new Date(expiresAt).toISOString() });
    return entry;
  }

  /** Judges a reports batch as the cloud does (docs/bridge-api.md "Reports from the lock"). */
  private judge(items: Array<{ lockId: string; report: string; keys?: { identity: string; x25519: string } }>) {
    this.reportBatches++;
    const decoded = items.map((item) => {
      const report = fromBase64Url(item.report);
      this.reportItems.push({ lockId: item.lockId, report, ...(item.keys ? { keys: item.keys } : {}) });
      return { lockId: item.lockId, bytes: report, keys: item.keys };
    });
    const verdicts: Array<{ verdict: string; message?: string } | null> = decoded.map((item) => {
      if (!this.servedLocks.has(item.lockId)) return { verdict: "unclaimed", message: "not a claimed lock of yours" };
      const pinned = this.pinnedKeys.get(item.lockId);
      if (!pinned && !item.keys) return { verdict: "forged", message: "the lock's first report must carry its keys" };
      if (pinned && item.keys && (pinned.identity !== item.keys.identity || pinned.x25519 !== item.keys.x25519))
        return { verdict: "forged", message: "keys other than the pinned ones" };
      return null;
    });
    const judged = decoded.map((item, i) => ({ item, i })).filter(({ i }) => verdicts[i] === null);
    const keysOf = (lockId: string) => {
      const keys = this.pinnedKeys.get(lockId) ?? decoded.find((d) => d.lockId === lockId && d.keys)?.keys;
      return keys ? fromBase64Url(keys.x25519) : undefined;
    };
    const judgement = judgeReportBatch(
      judged.map(({ item }) => ({ lockId: item.lockId, bytes: item.bytes })),
      {
        keys: (lockId, kid) => {
          const peer = keysOf(lockId);
          if (!peer || toHex(kid) !== toHex(CLOUD_REPORT_KEY.id)) return undefined;
          return deriveReportKey({
            lockId,
            cloudKeyId: kid,
            cloudPrivate: CLOUD_REPORT_KEY.privateKey,
            peerPublic: peer,
          });
        },
        state: (lockId) => this.reportState.get(lockId),
      },
    );
    judgement.verdicts.forEach((verdict: ReportVerdict, j) => {
      const { item, i } = judged[j]!;
      if (verdict.ok) {
        const report = verdict.report;
        this.accepted.set(`${item.lockId}\0${report.ctr}`, item.bytes);
        if (item.keys && !this.pinnedKeys.has(item.lockId)) this.pinnedKeys.set(item.lockId, item.keys);
        if (report.kind === "event") {
          this.events.set(toHex(report.event.id), { lockId: item.lockId, event: report.event, ctr: report.ctr });
          this.settleActions(item.lockId, report.event);
        } else this.telemetry.push(report.telemetry);
        verdicts[i] = { verdict: "ok" };
        return;
      }
      const same = verdict.ctr !== undefined && this.accepted.get(`${item.lockId}\0${verdict.ctr}`);
      verdicts[i] =
        verdict.verdict === "replayed" && same && Buffer.compare(same, item.bytes) === 0
          ? { verdict: "duplicate" }
          : { verdict: verdict.verdict, message: verdict.message };
    });
    for (const [lockId, state] of judgement.state) this.reportState.set(lockId, state);
    const results = verdicts.map((v, index) => ({ index, ...v! }));
    for (const r of results) this.verdicts[r.verdict] = (this.verdicts[r.verdict] ?? 0) + 1;
    return { results, counts: { ...this.verdicts }, gaps: [] };
  }

  /** An `unlocked`/`locked` event bound to a sent action's nonce is that action's success (the lock's word). */
  private settleActions(lockId: string, event: LockEvent): void {
    if (event.type !== "unlocked" && event.type !== "locked") return;
    for (const action of this.actions.values())
      if (
        action.lockId === lockId &&
        action.status === "sent" &&
        action.nonce &&
        resultMatchesCommand(event.cmd, action.nonce)
      )
        action.status = "succeeded";
  }

  append(change: Record<string, unknown>): number {
    const seq = this.changes.length + 1;
    this.changes.push({ seq, ...change });
    const waiting = this.waiters;
    this.waiters = new Set();
    for (const w of waiting) w();
    return seq;
  }

  private send(res: ServerResponse, status: number, body?: unknown): void {
    if (body === undefined) res.writeHead(status).end();
    else res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  }

  private async body(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    return text ? JSON.parse(text) : null;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    if (req.method === "POST" && url.pathname === "/auth/v1/token") {
      const b = (await this.body(req)) as Record<string, string>;
      if (b.client_id !== this.bridgeId || b.client_secret !== this.secret || b.scope !== "bridge")
        return this.send(res, 401, { error: "invalid_client", errorDescription: "bad credentials" });
      this.token = `t-${Math.random()}`;
      return this.send(res, 200, { access_token: this.token, token_type: "bearer", expires_in: 3600, scope: "bridge" });
    }
    if (this.down) {
      req.resume();
      return this.send(res, 503, { error: "unavailable", errorDescription: "down for the test" });
    }
    if (req.headers.authorization !== `Bearer ${this.token}`)
      return this.send(res, 401, { error: "invalid_token", errorDescription: "" });
    if (req.method === "GET" && url.pathname === "/bridge/v1/changes") {
      const cursor = url.searchParams.get("cursor") ?? "";
      this.cursorsAsked.push(cursor);
      if (cursor !== "" && !/^c\d+$/.test(cursor))
        return this.send(res, 400, { error: "invalid_cursor", errorDescription: "bad cursor" });
      const after = cursor === "" ? 0 : Number(cursor.slice(1));
      const limit = Number(url.searchParams.get("limit") ?? 500);
      const wait = Number(url.searchParams.get("wait") ?? 0);
      if (this.changes.length <= after && wait > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait * 1000);
          this.waiters.add(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      const page = this.changes.slice(after, after + limit);
      const last = after + page.length;
      return this.send(res, 200, { cursor: `c${last}`, changes: page, more: last < this.changes.length });
    }
    if (req.method === "POST" && url.pathname === "/bridge/v1/ingest") {
      const b = (await this.body(req)) as {
        events?: unknown[];
        telemetry?: unknown[];
        presence?: Array<{ lockId: string; online: boolean; ts: number }>;
      };
      if (b.events !== undefined || b.telemetry !== undefined)
        return this.send(res, 400, {
          error: "invalid_request",
          errorDescription: "events and telemetry go to /bridge/v1/reports as sealed reports",
        });
      const bad = (b.presence ?? []).findIndex((i) => !this.servedLocks.has(i.lockId));
      if (bad >= 0)
        return this.send(res, 400, { error: "invalid_request", errorDescription: `item ${bad}: lock not served` });
      this.presence.push(...(b.presence ?? []));
      this.ingestBatches++;
      return this.send(res, 200, { presence: { stored: b.presence?.length ?? 0 } });
    }
    if (req.method === "POST" && url.pathname === "/bridge/v1/reports") {
      const b = (await this.body(req)) as {
        items: Array<{ lockId: string; report: string; keys?: { identity: string; x25519: string } }>;
      };
      this.onReports?.();
      if (this.reportsGate) await this.reportsGate;
      if (this.brokenReportAnswers > 0) {
        this.brokenReportAnswers--;
        return this.send(res, 200, { results: [], counts: {}, gaps: [] });
      }
      return this.send(res, 200, this.judge(b.items));
    }
    const actionCall = url.pathname.match(/^\/bridge\/v1\/actions\/([^/]+)\/(command|result)$/);
    if (req.method === "POST" && actionCall) {
      const action = this.actions.get(decodeURIComponent(actionCall[1]!));
      const b = (await this.body(req)) as { nonce?: string; ok?: boolean; code?: string; message?: string };
      if (!action || !this.servedLocks.has(action.lockId))
        return this.send(res, 404, { error: "not_found", errorDescription: "no such action" });
      if (actionCall[2] === "result") {
        if (b.ok !== false || typeof b.code !== "string")
          return this.send(res, 422, { error: "invalid_request", errorDescription: "only failures, with a code" });
        if (action.status === "succeeded" || action.status === "failed" || action.status === "expired")
          return this.send(res, 409, { error: "action_closed", errorDescription: action.status });
        action.status = "failed";
        action.error = { code: b.code, ...(b.message ? { message: b.message } : {}) };
        return this.send(res, 204);
      }
      if (action.status === "succeeded" || action.status === "failed" || action.status === "expired")
        return this.send(res, 409, { error: "action_closed", errorDescription: action.status });
      const nonce = typeof b.nonce === "string" ? fromBase64Url(b.nonce) : null;
      if (nonce?.length !== 16)
        return this.send(res, 400, { error: "invalid_request", errorDescription: "body.nonce: 16 bytes, base64url" });
      const counter = (this.commandCounters.get(action.lockId) ?? 0) + 1;
      this.commandCounters.set(action.lockId, counter);
      action.nonce = nonce;
      action.status = "sent";
      const command = signRemoteCommand(
        { lock: action.lockId, nonce, counter, action: action.action },
        AUTHORITY.secretKey,
      );
      return this.send(res, 200, {
        actionId: action.id,
        lockId: action.lockId,
        command: Buffer.from(command).toString("base64url"),
      });
    }
    const state = url.pathname.match(/^\/bridge\/v1\/vendor-connections\/([^/]+)\/state$/);
    if (req.method === "PUT" && state) {
      const b = (await this.body(req)) as { state: string; reason?: string };
      this.stateReports.push({ vcId: decodeURIComponent(state[1]!), state: b.state, reason: b.reason });
      return this.send(res, 204);
    }
    const locks = url.pathname.match(/^\/bridge\/v1\/vendor-connections\/([^/]+)\/locks$/);
    if (req.method === "PUT" && locks) {
      const b = (await this.body(req)) as { locks: Array<{ id: string }> };
      if (this.refuseLockLists.has(decodeURIComponent(locks[1]!)))
        return this.send(res, 400, { error: "invalid_request", errorDescription: "body.locks: too many items" });
      this.lockReports.push({ vcId: decodeURIComponent(locks[1]!), locks: b.locks.map((l) => l.id) });
      return this.send(res, 200, { locks: b.locks.map((l) => ({ id: l.id, status: "created" })) });
    }
    const lockState = url.pathname.match(/^\/bridge\/v1\/locks\/([^/]+)\/state$/);
    if (req.method === "GET" && lockState) {
      const lockId = decodeURIComponent(lockState[1]!);
      this.stateFetches.push(lockId);
      const doc = this.states.get(lockId);
      if (!doc) return this.send(res, 404, { error: "not_found", errorDescription: "no such lock" });
      return this.send(res, 200, {
        lockId,
        v: doc.v,
        iat: doc.iat,
        state: Buffer.from(doc.state).toString("base64url"),
      });
    }
    const time = url.pathname.match(/^\/bridge\/v1\/locks\/([^/]+)\/time$/);
    if (req.method === "POST" && time) {
      const lockId = decodeURIComponent(time[1]!);
      const b = (await this.body(req)) as { request: string };
      const request = new Uint8Array(Buffer.from(b.request, "base64url"));
      this.timeRequests.push({ lockId, request });
      if (this.timeGate) await this.timeGate;
      if (!this.timeAnswerer) return this.send(res, 404, { error: "not_found", errorDescription: "no such lock" });
      const answer = this.timeAnswerer(lockId, request);
      return this.send(res, 200, { lockId, answer: Buffer.from(answer).toString("base64url") });
    }
    if (req.method === "POST" && url.pathname === "/bridge/v1/heartbeat") {
      await this.body(req);
      this.heartbeats++;
      return this.send(res, 204);
    }
    this.send(res, 404, { error: "not_found", errorDescription: url.pathname });
  }
}
