import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real HTTP server speaking the bridge API of docs/bridge-api.md, for the bridge's component tests (the whole-site
 * tests in test/site use the real cloud). It keeps a change feed the test appends to, stores ingested items by id
 * (duplicates counted, not stored), records state and lock reports, and can be switched to answer 503 ("down").
 */
export interface IngestedEvent {
  id: string;
  lockId: string;
  seq: number;
  ts: number;
  type: string;
  key?: string;
  code?: string;
  v?: number;
}

export class TestCloud {
  url = "";
  constructor(readonly bridgeId = "br-test") {}
  readonly secret = "bridge-secret-123456";
  private server: Server | null = null;
  private changes: Array<Record<string, unknown>> = [];
  private waiters = new Set<() => void>();
  readonly events = new Map<string, IngestedEvent>();
  readonly telemetry = new Map<string, Record<string, unknown>>();
  readonly presence: Array<{ lockId: string; online: boolean; ts: number }> = [];
  readonly stateReports: Array<{ vcId: string; state: string; reason?: string }> = [];
  readonly lockReports: Array<{ vcId: string; locks: string[] }> = [];
  readonly cursorsAsked: string[] = [];
  heartbeats = 0;
  ingestBatches = 0;
  duplicates = 0;
  /** When set, every bridge API call answers 503. */
  down = false;
  /** Lock ids this bridge may ingest for (else 400, like the cloud). */
  readonly servedLocks = new Set<string>();
  /** Answer ingest after this promise resolves (lets a test hold an upload in flight). */
  ingestGate: Promise<void> | null = null;
  /** Called when an ingest request arrives (before the gate). */
  onIngest: (() => void) | null = null;
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
        events?: IngestedEvent[];
        telemetry?: Array<Record<string, unknown>>;
        presence?: Array<{ lockId: string; online: boolean; ts: number }>;
      };
      this.onIngest?.();
      if (this.ingestGate) await this.ingestGate;
      const all = [...(b.events ?? []), ...(b.telemetry ?? []), ...(b.presence ?? [])] as Array<{ lockId: string }>;
      const bad = all.findIndex((i) => !this.servedLocks.has(i.lockId));
      if (bad >= 0)
        return this.send(res, 400, { error: "invalid_request", errorDescription: `item ${bad}: lock not served` });
      let evStored = 0;
      let evDup = 0;
      for (const e of b.events ?? []) {
        if (this.events.has(e.id)) evDup++;
        else {
          this.events.set(e.id, e);
          evStored++;
        }
      }
      let tStored = 0;
      let tDup = 0;
      for (const t of b.telemetry ?? []) {
        if (this.telemetry.has(t.id as string)) tDup++;
        else {
          this.telemetry.set(t.id as string, t);
          tStored++;
        }
      }
      this.presence.push(...(b.presence ?? []));
      this.ingestBatches++;
      this.duplicates += evDup + tDup;
      return this.send(res, 200, {
        events: { stored: evStored, duplicates: evDup },
        telemetry: { stored: tStored, duplicates: tDup },
        presence: { stored: b.presence?.length ?? 0 },
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
