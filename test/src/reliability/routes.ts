import { createHash } from "node:crypto";
import { request } from "node:http";
import { encodeTimeRequest, toBase64Url } from "@latchkey/protocol";
import { answers } from "../openapi-contract.js";
import { PaperLock } from "./paper-lock.js";

/**
 * The cloud's API as its own OpenAPI document (`GET /docs/json`) describes it: every operation, who may call it, what
 * it takes. Tests that must cover "every route" enumerate from here, so a new route is covered (or fails loudly for
 * want of an example body) without anyone remembering to add it.
 */

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema fragments from the document are read field by field
export type Schema = Record<string, any>;

/** Who a route is for, from its path prefix: the cloud's auth hook decides the same way (cloud/src/http/auth.ts). */
export type Family = "public" | "integrator" | "bridge" | "app";

export interface Operation {
  /** e.g. "GET /integrators/v1/lock-holders/{lockHolderId}" */
  id: string;
  method: string;
  /** The path template, `{name}` for each path parameter. */
  path: string;
  family: Family;
  pathParams: string[];
  /** Query parameters by name (their schemas). */
  query: Record<string, Schema>;
  /** The JSON body's schema, if the operation takes one. */
  body: Schema | undefined;
  /** The first 2xx status the document lists: what the rightful caller gets. */
  success: number;
}

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document as parsed JSON
export function operations(doc: any): Operation[] {
  const out: Operation[] = [];
  const globalSecurity: unknown[] = doc.security ?? [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Schema>>)) {
    for (const [method, op] of Object.entries(ops)) {
      // An operation's own `security` overrides the document's; `[]` means no token at all, and an empty requirement
      // `{}` among others means none is needed (OpenAPI 3.0 §4.8.10): the token endpoint takes client credentials in
      // its body or as HTTP Basic, never a bearer token.
      const security: unknown[] = op.security ?? globalSecurity;
      const needsToken = security.length > 0 && !security.some((r) => Object.keys(r as object).length === 0);
      const params: Schema[] = op.parameters ?? [];
      const success = Object.keys(op.responses ?? {})
        .map(Number)
        .filter((s) => s >= 200 && s < 300)
        .sort((a, b) => a - b)[0];
      if (success === undefined) {
        // Deprecated routes document only their refusal (410): they have no rightful caller.
        if (!op.deprecated) throw new Error(`${method.toUpperCase()} ${path}: no 2xx answer documented`);
      }
      out.push({
        id: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        family: !needsToken
          ? "public"
          : path.startsWith("/bridge/")
            ? "bridge"
            : path.startsWith("/app/")
              ? "app"
              : "integrator",
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name as string),
        query: Object.fromEntries(params.filter((p) => p.in === "query").map((p) => [p.name, p.schema as Schema])),
        body: op.requestBody?.content?.["application/json"]?.schema,
        success: success ?? 0,
      });
    }
  }
  return out;
}

/** The path with each `{name}` replaced by `values[name]` (URL-encoded unless `raw`). */
export function fillPath(op: Operation, values: Record<string, string>, raw = false): string {
  return op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`${op.id}: no value for path parameter ${name}`);
    return raw ? value : encodeURIComponent(value);
  });
}

export interface Answer {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in tests
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

export interface SendOptions {
  token?: string;
  /** The Authorization header as is (wins over `token`). */
  authorization?: string;
  /** Serialized as JSON (content-type application/json unless given). */
  json?: unknown;
  /** Sent as is. */
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

/**
 * One HTTP exchange over a fresh connection, the path sent byte for byte (fetch would normalize `../` and
 * percent-escapes away). A connection per request: the cloud closes the socket after refusing a malformed request,
 * which must not fail the next one.
 */
export function send(port: number, method: string, path: string, options: SendOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const authorization = options.authorization ?? (options.token ? `Bearer ${options.token}` : undefined);
  if (authorization !== undefined) headers.authorization = authorization;
  let payload: Buffer | undefined;
  if (options.raw !== undefined) payload = Buffer.from(options.raw);
  else if (options.json !== undefined) {
    payload = Buffer.from(JSON.stringify(options.json));
    headers["content-type"] = "application/json";
  }
  Object.assign(headers, options.headers);
  if (payload !== undefined) headers["content-length"] = String(payload.length);
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        const answer = { status: res.statusCode ?? 0, text, body, headers: res.headers };
        // Not through fetch, so the contract check is asked here (issue 14): hostile paths and bodies included.
        if (res.headers["x-request-id"] === undefined) resolve(answer);
        else {
          answers
            .answer(method, `http://127.0.0.1:${port}`, path, answer.status, res.headers["content-type"], text)
            .then(() => resolve(answer), reject);
        }
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** What the example bodies and path parameters refer to: real objects of one tenant. */
export interface TenantIds {
  integratorId: string;
  /** The integrator's OAuth2 client. */
  clientId: string;
  lockHolderId: string;
  bridgeId: string;
  vendorConnectionId: string;
  /** A lock of `vendorConnectionId` (served by `bridgeId`). */
  lockId: string;
  /** A cloud-hosted (virtual) lock, for the app's virtual-lock routes. */
  virtualLockId: string;
  keyId: string;
  /** A remote action on `lockId` (pending: its bridge may still fetch the command or report a failure). */
  actionId: string;
  /** One of the lock holder's issuer keys. */
  kid: string;
  jobId: string;
  webhookId: string;
  /** A delivery of `webhookId` (any status: a replay of a pending one is answered as it is). */
  deliveryId: string;
  verificationId: string;
  phoneNumber: string;
}

/** Path parameter values by name; a name not here fails the test that meets it (a new route needs a thought). */
export function pathValues(op: Operation, ids: TenantIds): Record<string, string> {
  return {
    integratorId: ids.integratorId,
    clientId: ids.clientId,
    lockHolderId: ids.lockHolderId,
    bridgeId: ids.bridgeId,
    vendorConnectionId: ids.vendorConnectionId,
    lockId: op.family === "app" ? ids.virtualLockId : ids.lockId,
    keyId: ids.keyId,
    actionId: ids.actionId,
    kid: ids.kid,
    jobId: ids.jobId,
    webhookId: ids.webhookId,
    deliveryId: ids.deliveryId,
    verificationId: ids.verificationId,
    msn: "MSN-0001",
  };
}

const bytes16 = (label: string) => new Uint8Array(createHash("sha256").update(label).digest().subarray(0, 16));

/**
 * The setup code a factory printed on `lockId` (deterministic, so a test and validBody agree), with its claim secret
 * for the tests that make sure it never shows (docs/trust.md "Lock identity and setup code"), and the lock itself
 * (its keys match the code's fingerprint, so its sealed reports are believed).
 */
export function factorySetupCode(lockId: string): { setupCode: string; claimSecret: Uint8Array; lock: PaperLock } {
  const lock = new PaperLock(lockId);
  return { setupCode: lock.setupCode, claimSecret: lock.claimSecret, lock };
}

/**
 * A body each operation accepts from its rightful caller (checked by the positive controls, so a wrong one fails
 * there), keyed by operation id. `seq` makes bodies that must be unique (item ids, user numbers) differ per call.
 */
export function validBody(op: Operation, ids: TenantIds, seq = 0): unknown {
  const bodies: Record<string, unknown> = {
    "POST /auth/v1/token": { grant_type: "client_credentials", client_id: "cl_x", client_secret: "x", scope: "bridge" },
    "POST /integrators/v1/lock-holders": { name: `Probe holder ${seq}`, countryIso: "NO" },
    "PATCH /integrators/v1/lock-holders/{lockHolderId}": { countryIso: "NO" },
    "POST /integrators/v1/lock-holders/{lockHolderId}/bridges": { name: `probe gateway ${seq}` },
    // An overlap, so the rightful caller's rotation leaves its tokens working until the old secret is revoked.
    "POST /integrators/v1/lock-holders/{lockHolderId}/bridges/{bridgeId}/secret/rotate": { overlapSeconds: 3600 },
    "POST /integrators/v1/integrator/{integratorId}/clients/{clientId}/secret/rotate": { overlapSeconds: 3600 },
    "POST /integrators/v1/lock-holders/{lockHolderId}/vendor-connections": { vendor: "virtual", locksToCreate: 1 },
    "PUT /integrators/v1/lock-holders/{lockHolderId}/vendor-connections/{vendorConnectionId}/update-password": {
      password: `probe-password-${seq}-0123456789`,
    },
    "PATCH /integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}": { timezone: "Europe/Oslo" },
    "POST /integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}/keys": {
      userId: `+4790${String(seq).padStart(6, "0")}`,
      durationMinutes: 60,
    },
    "POST /integrators/v1/lock-holders/{lockHolderId}/keys": {
      lockId: ids.lockId,
      userId: `+4790${String(seq).padStart(6, "0")}`,
    },
    "POST /integrators/v1/lock-holders/{lockHolderId}/keys/batch": {
      keys: [{ lockId: ids.lockId, userId: `+4790${String(seq).padStart(6, "0")}` }],
    },
    // Metadata only, so no token changes; the document lists it before the revocation below, which it must precede.
    "PATCH /integrators/v1/lock-holders/{lockHolderId}/keys/{keyId}": { metadata: { probe: seq } },
    "PUT /integrators/v1/lock-holders/{lockHolderId}/keys/{keyId}": { state: "revoked" },
    "POST /integrators/v1/lock-holders/{lockHolderId}/webhooks": { url: "http://127.0.0.1:9/probe-hook" },
    "PATCH /integrators/v1/lock-holders/{lockHolderId}/webhooks/{webhookId}": { paused: false },
    "POST /integrators/v1/lock-holders/{lockHolderId}/webhooks/{webhookId}/replay": { since: "2020-01-01T00:00:00Z" },
    "POST /integrators/v1/phone-numbers/format": { phoneNumber: "41234567", countryIso: "NO" },
    "PUT /bridge/v1/vendor-connections/{vendorConnectionId}/state": { state: "connected" },
    "PUT /bridge/v1/vendor-connections/{vendorConnectionId}/locks": { locks: [{ id: ids.lockId }] },
    "POST /bridge/v1/heartbeat": { version: "0.1.0-probe", locksOnline: 1 },
    // The tenant claimed its lock with this code already: the rightful caller claims it again (200).
    "POST /integrators/v1/lock-holders/{lockHolderId}/locks/claims": {
      setupCode: factorySetupCode(ids.lockId).setupCode,
    },
    "POST /bridge/v1/locks/{lockId}/time": {
      request: toBase64Url(encodeTimeRequest({ lock: ids.lockId, nonce: bytes16(`time nonce ${seq}`) })),
    },
    // Presence only: events and telemetry come as the lock's sealed reports (docs/bridge-api.md).
    "POST /bridge/v1/ingest": { presence: [{ lockId: ids.lockId, online: true, ts: 1_800_000_000 + seq }] },
    // Well-formed, not a report: the rightful bridge gets a verdict for it (200), nobody else learns anything.
    "POST /bridge/v1/reports": { items: [{ lockId: ids.lockId, report: "2BGEQ6EBBaBAQA" }] },
    "POST /integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}/actions": { action: "unlock" },
    // One nonce for every call: the same nonce again answers the same command (another one would be 409).
    "POST /bridge/v1/actions/{actionId}/command": { nonce: toBase64Url(bytes16(`command nonce of ${ids.actionId}`)) },
    "POST /bridge/v1/actions/{actionId}/result": { ok: false, code: "unreachable", message: "probe" },
    "POST /app/v1/verification": { phoneNumber: ids.phoneNumber },
    "POST /app/v1/verification/{verificationId}/confirm": { code: "000000", devicePublicKey: "ab".repeat(32) },
    // Well-formed but forged: the rightful phone's own unlock is built from a real token and challenge in the test.
    "POST /app/v1/virtual-locks/{lockId}/unlock": { token: "AAAA", proof: "AAAA", nonce: "AAAAAAAAAAAAAAAAAAAAAA" },
  };
  if (op.body === undefined) return undefined;
  if (!(op.id in bodies)) throw new Error(`${op.id}: no example body (add one to validBody in routes.ts)`);
  return bodies[op.id];
}

/** The document itself, from a running cloud. */
// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document as parsed JSON
export async function openApi(port: number): Promise<any> {
  const doc = await send(port, "GET", "/docs/json");
  if (doc.status !== 200) throw new Error(`GET /docs/json: ${doc.status}`);
  return doc.body;
}
