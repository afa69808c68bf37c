import { createDecipheriv } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startCloud } from "@latchkey/cloud";
import { seededRandom } from "@latchkey/lock-sim";
import { fromBase64Url, keyPairFromSeed, ManualClock, signUnlockProof, toBase64Url, toHex } from "@latchkey/protocol";
import { pollUntil } from "@latchkey/scripts";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LogSink, Secrets } from "../src/reliability/evidence.js";
import {
  type Answer,
  factorySetupCode,
  fillPath,
  type Operation,
  openApi,
  operations,
  pathValues,
  type SendOptions,
  send,
  type TenantIds,
  validBody,
} from "../src/reliability/routes.js";
import { Tally } from "../src/reliability/tally.js";
import { Resources } from "../src/resources.js";

/**
 * Who may do what, for every operation of the cloud's OpenAPI document, and secrets never shown twice.
 *
 * A victim tenant (integrator, two lock holders, bridges, vendor connections, locks, keys, a job, a webhook, a phone)
 * and an attacker tenant live in one cloud. Each operation is called with the victim's ids in its path and a body it
 * accepts, by every kind of credential but the rightful one. The rule the cloud follows (cloud/src/http/auth.ts,
 * cloud/src/domain/access.ts), which the test holds it to exactly:
 *   - no token, a malformed one, an unknown one, an expired one           → 401 unauthorized
 *   - a token of the wrong kind (integrator / bridge / app) for the route → 403 insufficient_scope
 *     (also a lockHolder.admin token on the integrator.admin routes: POST /lock-holders, the client-secret rotation)
 *   - the right kind, another tenant, naming the victim's object in the path → 404 not_found, exactly as if it did not
 *     exist, so ids cannot be probed; in a body (ingest) → 400 unknown_lock
 *   - the right kind, no victim object named (lists, the change feed, heartbeats, formatting): the caller's own
 *     answer, which must hold nothing of the victim's
 * Never a 2xx on the victim's objects, never a 5xx, and no answer holds a victim id, name or secret the request did
 * not itself contain (an echo of the caller's own input is not a leak).
 */

const tally = new Tally("api-authz");
const logs = new LogSink();
const secrets = new Secrets();
const resources = new Resources();

const T0 = 1_800_000_000_000;
const TOKEN_TTL_S = 3600;
const clock = new ManualClock(T0);
let port = 0;
let dataDir = "";
let ops: Operation[] = [];

/** Every answer of the file, for the secrets check: `creation` marks the one answer allowed to show a new secret. */
const answers: Array<{ what: string; text: string; creation: boolean }> = [];
const ROTATE_BRIDGE = "POST /integrators/v1/lock-holders/{lockHolderId}/bridges/{bridgeId}/secret/rotate";
const ROTATE_CLIENT = "POST /integrators/v1/integrator/{integratorId}/clients/{clientId}/secret/rotate";
const REVOKE_BRIDGE = "DELETE /integrators/v1/lock-holders/{lockHolderId}/bridges/{bridgeId}/secret/previous";
const REVOKE_CLIENT = "DELETE /integrators/v1/integrator/{integratorId}/clients/{clientId}/secret/previous";
/** The routes only an integrator.admin token may use (a lockHolder.admin token is refused with 403). */
const INTEGRATOR_ADMIN = new Set(["POST /integrators/v1/lock-holders", ROTATE_CLIENT, REVOKE_CLIENT]);
const CREATES = new Set([
  "POST /auth/v1/token",
  ROTATE_BRIDGE,
  ROTATE_CLIENT,
  "POST /integrators/v1/lock-holders/{lockHolderId}/bridges",
  "POST /integrators/v1/lock-holders/{lockHolderId}/webhooks",
  "POST /app/v1/verification/{verificationId}/confirm",
]);

async function api(method: string, path: string, options: SendOptions = {}, opId?: string): Promise<Answer> {
  const answer = await send(port, method, path, options);
  answers.push({ what: `${method} ${path} → ${answer.status}`, text: answer.text, creation: CREATES.has(opId ?? "") });
  expect(answer.status, `${method} ${path}: ${answer.text}`).toBeLessThan(500);
  return answer;
}

async function ok(method: string, path: string, options: SendOptions, status: number, opId?: string) {
  const answer = await api(method, path, options, opId);
  expect(answer.status, `${method} ${path}: ${answer.text}`).toBe(status);
  return answer;
}

async function token(clientId: string, secret: string, scope: string, label = ""): Promise<string> {
  const answer = await ok(
    "POST",
    "/auth/v1/token",
    { json: { grant_type: "client_credentials", client_id: clientId, client_secret: secret, scope } },
    200,
    "POST /auth/v1/token",
  );
  secrets.add(`access token ${scope} ${clientId}${label}`, answer.body.access_token);
  return answer.body.access_token;
}

/** docs/app-api.md steps 1–2, the one-time code read where the development sender puts it (the cloud's log). */
async function registerPhone(phoneNumber: string, seed: number): Promise<{ token: string; secretKey: Uint8Array }> {
  const { secretKey, publicKey } = keyPairFromSeed(new Uint8Array(32).fill(seed));
  secrets.add(`device secret key ${phoneNumber}/${seed}`, toHex(secretKey));
  const started = await ok("POST", "/app/v1/verification", { json: { phoneNumber } }, 202);
  const record = await pollUntil(
    `the one-time code for ${phoneNumber}`,
    () => logs.records("one-time code").find((r) => r.phoneNumber === phoneNumber && !usedCodes.has(String(r.code))),
    { timeoutMs: 10_000, intervalMs: 10 },
  );
  usedCodes.add(String(record.code));
  const confirmed = await ok(
    "POST",
    `/app/v1/verification/${started.body.verificationId}/confirm`,
    { json: { code: String(record.code), devicePublicKey: toHex(publicKey) } },
    200,
    "POST /app/v1/verification/{verificationId}/confirm",
  );
  secrets.add(`app token ${phoneNumber}/${seed}`, confirmed.body.accessToken);
  return { token: confirmed.body.accessToken, secretKey };
}
const usedCodes = new Set<string>();

interface Tenant {
  ids: TenantIds;
  integratorName: string;
  clientId: string;
  clientSecret: string;
  admin: string;
  bridgeSecret: string;
  bridgeToken: string;
  phone: { token: string; secretKey: Uint8Array };
  /** Everything that is this tenant's and no one else's business. */
  values: string[];
}

const VICTIM_PHONE = "+4791234567";
const OTHER_PHONE = "+4798765432";

let victim: Tenant;
let other: Tenant;
/** Victim's own but stale or narrowed credentials. */
const extra = {
  expiredIntegrator: "",
  expiredBridge: "",
  expiredApp: "",
  /** lockHolder.admin:<victim's second lock holder>: the victim's integrator, but not this lock holder. */
  otherLockHolder: "",
  siblingBridgeId: "",
  /** A second bridge under the victim's lock holder, serving none of its connections. */
  siblingBridge: "",
};

/** A tenant with one of everything; `early` runs before the clock jumps (tokens that will have expired). */
async function makeTenant(name: string, phoneNumber: string, seed: number, lockId: string): Promise<Tenant> {
  const creds = await cloud().bootstrap(`${name} Integrator Ltd`);
  secrets.add(`${name} client secret`, creds.clientSecret);
  const admin = await token(creds.clientId, creds.clientSecret, "integrator.admin");
  const lh = await ok("POST", "/integrators/v1/lock-holders", { token: admin, json: { name: `${name} Homes` } }, 201);
  const lhPath = `/integrators/v1/lock-holders/${lh.body.id}`;
  const bridge = await ok(
    "POST",
    `${lhPath}/bridges`,
    { token: admin, json: { name: `${name} gateway` } },
    201,
    "POST /integrators/v1/lock-holders/{lockHolderId}/bridges",
  );
  secrets.add(`${name} bridge secret`, bridge.body.secret);
  const bridgeToken = await token(bridge.body.bridgeId, bridge.body.secret, "bridge");
  const vendorPassword = `${name}-vendor-password-0123456789`;
  secrets.add(`${name} vendor password`, vendorPassword);
  const vc = await ok(
    "POST",
    `${lhPath}/vendor-connections`,
    {
      token: admin,
      json: {
        vendor: "sim",
        username: `${name}-vendor-user`,
        password: vendorPassword,
        bridgeId: bridge.body.bridgeId,
      },
    },
    201,
  );
  const vcId = vc.body.vendorConnection.id;
  // What the bridge would report: its connection's lock, then the connection up.
  await ok(
    "PUT",
    `/bridge/v1/vendor-connections/${vcId}/locks`,
    { token: bridgeToken, json: { locks: [{ id: lockId, name: `${name} front door` }] } },
    200,
  );
  await ok(
    "PUT",
    `/bridge/v1/vendor-connections/${vcId}/state`,
    { token: bridgeToken, json: { state: "connected" } },
    204,
  );
  // The lock holder claims its lock with the printed setup code (docs/trust.md, Cloud); the claim secret is a secret
  // no answer or log line may show. The first state fetch makes the authority and report key the reads then find.
  const factory = factorySetupCode(lockId);
  secrets.add(`${name} claim secret`, toHex(factory.claimSecret));
  secrets.add(`${name} claim secret (base64url)`, toBase64Url(factory.claimSecret));
  await ok("POST", `${lhPath}/locks/claims`, { token: admin, json: { setupCode: factory.setupCode } }, 201);
  const state = await ok("GET", `/bridge/v1/locks/${lockId}/state`, { token: bridgeToken }, 200);
  const signedState = factory.lock.readState(state.body.state);
  const virtual = await ok(
    "POST",
    `${lhPath}/vendor-connections`,
    { token: admin, json: { vendor: "virtual", locksToCreate: 1 } },
    201,
  );
  const locks = await ok("GET", `${lhPath}/locks`, { token: admin }, 200);
  const virtualLock = locks.body.locks.find(
    (l: { vendorConnectionId: string }) => l.vendorConnectionId === virtual.body.vendorConnection.id,
  );
  const key = await ok(
    "POST",
    `${lhPath}/locks/${lockId}/keys`,
    { token: admin, json: { userId: phoneNumber, metadata: { note: `${name}-private-metadata` } } },
    201,
  );
  const virtualKey = await ok(
    "POST",
    `${lhPath}/keys`,
    { token: admin, json: { lockId: virtualLock.id, userId: phoneNumber } },
    201,
  );
  const issuerKeys = await ok("GET", `${lhPath}/issuer-keys`, { token: admin }, 200);
  const job = await ok(
    "POST",
    `${lhPath}/keys/batch`,
    { token: admin, json: { keys: [{ lockId, userId: phoneNumber, durationMinutes: 30 }] } },
    202,
  );
  const hook = await ok(
    "POST",
    `${lhPath}/webhooks`,
    { token: admin, json: { url: `http://127.0.0.1:9/${name}-hook-path` } },
    201,
    "POST /integrators/v1/lock-holders/{lockHolderId}/webhooks",
  );
  secrets.add(`${name} webhook secret`, hook.body.secret);
  // The lock's own sealed report of an event (the only way an event reaches the cloud), its keys attached as the
  // bridge attaches them to a lock's first report.
  const report = factory.lock.sealEvent(signedState, {
    id: new Uint8Array(16).fill(seed),
    seq: 1,
    ts: T0 / 1000,
    type: "unlocked",
  });
  const reported = await ok(
    "POST",
    "/bridge/v1/reports",
    { token: bridgeToken, json: { items: [{ lockId, report, keys: factory.lock.keys }] } },
    200,
  );
  expect(reported.body.results.map((r: { verdict: string }) => r.verdict)).toEqual(["ok"]);
  // The event's webhook delivery (queued with the report; no workers send it): the replay routes name it.
  const hookDeliveries = await ok("GET", `${lhPath}/webhooks/${hook.body.id}/deliveries`, { token: admin }, 200);
  // As a bridge does after accepted reports: the state signed anew with the moved ack, so no read below re-signs it.
  const acked = await ok("GET", `/bridge/v1/locks/${lockId}/state`, { token: bridgeToken }, 200);
  expect(factory.lock.readState(acked.body.state).ack).toBe(1);
  // A remote unlock waiting for its bridge (docs/bridge-api.md "Remote actions").
  const action = await ok(
    "POST",
    `${lhPath}/locks/${lockId}/actions`,
    { token: admin, json: { action: "unlock" } },
    202,
  );
  const phone = await registerPhone(phoneNumber, seed);
  const verification = await ok("POST", "/app/v1/verification", { json: { phoneNumber } }, 202);
  const ids: TenantIds = {
    integratorId: creds.integratorId,
    clientId: creds.clientId,
    lockHolderId: lh.body.id,
    bridgeId: bridge.body.bridgeId,
    vendorConnectionId: vcId,
    lockId,
    virtualLockId: virtualLock.id,
    keyId: key.body.id,
    actionId: action.body.id,
    kid: issuerKeys.body.issuerKeys[0].kid,
    jobId: job.body.jobId,
    webhookId: hook.body.id,
    deliveryId: hookDeliveries.body.deliveries[0].id,
    verificationId: verification.body.verificationId,
    phoneNumber,
  };
  const values = [
    ...Object.values(ids),
    `${name} Integrator Ltd`,
    `${name} Homes`,
    `${name} gateway`,
    `${name}-vendor-user`,
    `${name} front door`,
    `${name}-private-metadata`,
    `${name}-hook-path`,
    creds.clientId,
    virtual.body.vendorConnection.id,
    virtualKey.body.id,
  ];
  return {
    ids,
    integratorName: `${name} Integrator Ltd`,
    clientId: creds.clientId,
    clientSecret: creds.clientSecret,
    admin,
    bridgeSecret: bridge.body.secret,
    bridgeToken,
    phone,
    values,
  };
}

let running: Awaited<ReturnType<typeof startCloud>>;
const cloud = () => running;

beforeAll(async () => {
  dataDir = join(resources.tempDir("latchkey-api-authz-"), "cloud");
  running = await startCloud({
    dataDir,
    port: 0,
    clock,
    logLevel: "info",
    logStream: logs.stream("cloud"),
    random: seededRandom("api-authz"),
    // No master key given: the cloud makes <dataDir>/master.key, whose bytes are a secret of this test.
    // No workers: the victim's objects change only through the requests this test makes.
    workers: false,
    // The probe webhooks name 127.0.0.1 (never called: no workers), which the cloud refuses by default.
    settings: { accessTokenTtlSeconds: TOKEN_TTL_S, appTokenTtlSeconds: TOKEN_TTL_S, allowPrivateWebhookTargets: true },
  });
  resources.defer("close the cloud", () => running.close());
  port = running.port;
  ops = operations(await openApi(port));

  // Tokens of the victim's that will have expired: made, then the cloud's clock moves past their lifetime.
  const early = await cloud().bootstrap("Early Integrator Ltd");
  extra.expiredIntegrator = await token(early.clientId, early.clientSecret, "integrator.admin");
  const lh = await ok(
    "POST",
    "/integrators/v1/lock-holders",
    { token: extra.expiredIntegrator, json: { name: "Early" } },
    201,
  );
  const br = await ok(
    "POST",
    `/integrators/v1/lock-holders/${lh.body.id}/bridges`,
    { token: extra.expiredIntegrator },
    201,
    "POST /integrators/v1/lock-holders/{lockHolderId}/bridges",
  );
  secrets.add("early bridge secret", br.body.secret);
  extra.expiredBridge = await token(br.body.bridgeId, br.body.secret, "bridge");
  extra.expiredApp = (await registerPhone(VICTIM_PHONE, 1)).token;
  clock.advance(TOKEN_TTL_S * 1000 + 1);

  victim = await makeTenant("Victim", VICTIM_PHONE, 2, "victim-door-1");
  other = await makeTenant("Other", OTHER_PHONE, 3, "other-door-1");
  const second = await ok(
    "POST",
    "/integrators/v1/lock-holders",
    { token: victim.admin, json: { name: "Victim Cabins" } },
    201,
  );
  extra.otherLockHolder = await token(victim.clientId, victim.clientSecret, `lockHolder.admin:${second.body.id}`);
  const sibling = await ok(
    "POST",
    `/integrators/v1/lock-holders/${victim.ids.lockHolderId}/bridges`,
    { token: victim.admin, json: { name: "Victim sibling gateway" } },
    201,
    "POST /integrators/v1/lock-holders/{lockHolderId}/bridges",
  );
  secrets.add("victim sibling bridge secret", sibling.body.secret);
  extra.siblingBridgeId = sibling.body.bridgeId;
  extra.siblingBridge = await token(sibling.body.bridgeId, sibling.body.secret, "bridge");
}, 60_000);

afterAll(async () => {
  await resources.cleanup();
  tally.publish(inject("reliabilityReport"));
});

type Family = Operation["family"];
type Expect = { status: number; error?: string } | "own";

interface Credential {
  name: string;
  authorization?: string;
  /** What the cloud must answer on an operation of this family. */
  expect: (op: Operation) => Expect;
  /** The victim's values this caller must never see (its own excepted). */
  mustNotSee: () => string[];
}

const unauthorized: Expect = { status: 401, error: "unauthorized" };
const wrongKind: Expect = { status: 403, error: "insufficient_scope" };
const notFound: Expect = { status: 404, error: "not_found" };
const only = (family: Family, onFamily: (op: Operation) => Expect) => (op: Operation) =>
  op.family === family ? onFamily(op) : wrongKind;
const victimValues = () => victim.values;

function credentials(): Credential[] {
  const anonymous = (name: string, authorization: string | undefined): Credential => ({
    name,
    authorization,
    expect: () => unauthorized,
    mustNotSee: victimValues,
  });
  return [
    anonymous("no token", undefined),
    anonymous("unknown token", "Bearer lkat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    anonymous("not a token", "Bearer !!!"),
    anonymous("empty bearer", "Bearer "),
    anonymous("basic auth", `Basic ${Buffer.from(`${victim.clientId}:x`).toString("base64")}`),
    anonymous("token with a suffix", `Bearer ${victim.admin}x`),
    anonymous("client secret as bearer", `Bearer ${victim.clientSecret}`),
    anonymous("expired integrator token", `Bearer ${extra.expiredIntegrator}`),
    anonymous("expired bridge token", `Bearer ${extra.expiredBridge}`),
    anonymous("expired app token", `Bearer ${extra.expiredApp}`),
    {
      name: "victim integrator token",
      authorization: `Bearer ${victim.admin}`,
      expect: only("integrator", () => "own"), // the rightful caller: only its refusals are in the matrix
      mustNotSee: () => [],
    },
    {
      name: "victim bridge token",
      authorization: `Bearer ${victim.bridgeToken}`,
      expect: only("bridge", () => "own"),
      mustNotSee: () => [],
    },
    {
      name: "victim app token",
      authorization: `Bearer ${victim.phone.token}`,
      expect: only("app", () => "own"),
      mustNotSee: () => [],
    },
    {
      name: "another integrator",
      authorization: `Bearer ${other.admin}`,
      expect: only("integrator", (op) => (op.pathParams.length > 0 ? notFound : "own")),
      mustNotSee: victimValues,
    },
    {
      name: "lockHolder.admin of another lock holder",
      authorization: `Bearer ${extra.otherLockHolder}`,
      expect: only("integrator", (op) => {
        if (INTEGRATOR_ADMIN.has(op.id)) return wrongKind;
        // The integrator is the token's own: a lock-holder-scoped token may read it (nothing of any lock holder).
        if (op.id === "GET /integrators/v1/integrator/{integratorId}") return "own";
        return op.pathParams.length > 0 ? notFound : "own";
      }),
      mustNotSee: () =>
        victim.values.filter((v) => ![victim.ids.integratorId, victim.integratorName, victim.clientId].includes(v)),
    },
    {
      name: "another tenant's bridge",
      authorization: `Bearer ${other.bridgeToken}`,
      expect: only("bridge", bridgeRule),
      mustNotSee: victimValues,
    },
    {
      name: "sibling bridge (same lock holder, none of its connections)",
      authorization: `Bearer ${extra.siblingBridge}`,
      expect: only("bridge", bridgeRule),
      // Its lock holder's id (and issuer keys) are on its feed by design; the connections, locks and keys are not.
      mustNotSee: () => victim.values.filter((v) => v !== victim.ids.lockHolderId && v !== victim.ids.kid),
    },
    {
      name: "another phone",
      authorization: `Bearer ${other.phone.token}`,
      expect: only("app", (op) =>
        // Another tenant's virtual lock is not there for a phone that holds no key for it (review 12.9): no challenge,
        // no attempt (no denied event firing the victim's webhooks), the answer of a lock that does not exist.
        op.id.startsWith("POST /app/v1/virtual-locks/") ? notFound : "own",
      ),
      mustNotSee: victimValues,
    },
  ];
}

function bridgeRule(op: Operation): Expect {
  if (op.pathParams.length > 0) return notFound;
  if (op.id === "POST /bridge/v1/ingest") return { status: 400, error: "unknown_lock" };
  return "own";
}

/** The matrix's body for an operation: what the rightful caller could send, or a stolen unlock attempt. */
async function matrixBody(op: Operation): Promise<unknown> {
  if (op.id !== "POST /app/v1/virtual-locks/{lockId}/unlock") return validBody(op, victim.ids, 9000);
  // The victim's real token and a real challenge (the victim's own), signed by the wrong device key.
  return victimUnlockBody(other.phone.secretKey);
}

/**
 * An unlock of the victim's virtual lock: the victim's key token and a fresh challenge of the victim's phone, the
 * proof signed by `deviceSecretKey` (the victim's own device key, or another's).
 */
async function victimUnlockBody(deviceSecretKey: Uint8Array): Promise<{ token: string; proof: string; nonce: string }> {
  const token = await victimUnlockToken();
  const challenge = await ok(
    "POST",
    `/app/v1/virtual-locks/${victim.ids.virtualLockId}/challenge`,
    { token: victim.phone.token },
    200,
  );
  const proof = signUnlockProof({
    lockId: victim.ids.virtualLockId,
    nonce: fromBase64Url(challenge.body.nonce),
    token: fromBase64Url(token),
    deviceSecretKey,
  });
  return { token, proof: toBase64Url(proof), nonce: challenge.body.nonce };
}

async function victimUnlockToken(): Promise<string> {
  const keys = await ok("GET", "/app/v1/keys", { token: victim.phone.token }, 200);
  const key = keys.body.keys.find((k: { lockId: string }) => k.lockId === victim.ids.virtualLockId);
  expect(key, "the victim's phone holds a key for the virtual lock").toBeDefined();
  return key.token;
}

/**
 * DELETEs after everything else, then the secret rotations (revoking the victim's old bridge secret ends its bridge
 * token, revoking its old client secret ends its integrator token; the positive controls log in again with the new
 * secrets afterwards), the phone's own device last (it ends that phone's token).
 */
const SECRET_ORDER: Record<string, number> = {
  [ROTATE_BRIDGE]: 1.2,
  [ROTATE_CLIENT]: 1.2,
  [REVOKE_BRIDGE]: 1.4,
  [REVOKE_CLIENT]: 1.6,
};
const order = (op: Operation) =>
  SECRET_ORDER[op.id] ?? (op.id === "DELETE /app/v1/device" ? 2 : op.method === "DELETE" ? 1 : 0);
const ordered = () => [...ops].sort((a, b) => order(a) - order(b));

/** The victim's state as the rightful callers read it, by operation: unchanged by every refused attempt. */
async function victimState(): Promise<Map<string, Answer>> {
  const out = new Map<string, Answer>();
  for (const op of ops) {
    if (op.method !== "GET" || op.family === "public" || op.family === "app") continue;
    const auth = op.family === "bridge" ? victim.bridgeToken : victim.admin;
    out.set(op.id, await ok("GET", fillPath(op, pathValues(op, victim.ids)), { token: auth }, op.success));
  }
  return out;
}

describe("who may do what, for every operation in /docs/json", () => {
  it("the document names its public operations, and they are exactly the ones meant to be public", async () => {
    // The token endpoint, the phone's two verification steps and the deprecated 410 routes need no token; /health
    // and /docs are not in the document. A route turning public (or private) changes this list on purpose only.
    expect(ops.filter((op) => op.family === "public").map((op) => op.id)).toEqual([
      "POST /auth/v1/token",
      "POST /app/v1/verification",
      "POST /app/v1/verification/{verificationId}/confirm",
      "POST /service-providers/v1/key-requests",
      "GET /service-providers/v1/key-requests-options/{msn}",
    ]);
    expect(ops.length).toBeGreaterThan(40);
    // Public really means public: without a token, none answers "send an access token".
    for (const op of ops.filter((o) => o.family === "public")) {
      const answer = await api(op.method, fillPath(op, pathValues(op, victim.ids)), {
        json: op.body ? { wrong: true } : undefined,
      });
      expect(answer.body?.error, op.id).not.toBe("unauthorized");
    }
  });

  it("every credential but the rightful one is refused on every operation (401 / 403 / 404 as the rule says), and no answer leaks the victim's data", async () => {
    // The sibling bridge is the victim's own: its heartbeat in the matrix is its right. Made once before the
    // snapshot (same body, same clock), the matrix's repeat changes nothing.
    const heartbeat = ops.find((op) => op.id === "POST /bridge/v1/heartbeat")!;
    await ok("POST", heartbeat.path, { token: extra.siblingBridge, json: validBody(heartbeat, victim.ids) }, 204);
    const before = await victimState();
    const creds = credentials();
    const counts = { pairs: 0, refused: 0, own: 0 };
    for (const op of ordered()) {
      if (op.family === "public") continue;
      for (const cred of creds) {
        const want = cred.expect(op);
        // The rightful caller's own calls are the positive controls below.
        if (want === "own" && cred.name.startsWith("victim ")) continue;
        const path = fillPath(op, pathValues(op, victim.ids));
        const body = op.body ? await matrixBody(op) : undefined;
        const answer = await api(op.method, path, {
          ...(cred.authorization !== undefined ? { authorization: cred.authorization } : {}),
          ...(body !== undefined ? { json: body } : {}),
        });
        const where = `${op.id} with ${cred.name}: ${answer.status} ${answer.text.slice(0, 300)}`;
        counts.pairs++;
        tally.input();
        if (want === "own") {
          counts.own++;
          expect(answer.status, where).toBeLessThan(500);
        } else {
          expect(answer.status, where).toBe(want.status);
          expect(answer.body?.error, where).toBe(want.error);
          expect(typeof answer.body?.errorDescription, where).toBe("string");
          counts.refused++;
          tally.refuse();
        }
        // Nothing of the victim's, unless the caller sent it itself (ids in its path, the stolen token in its body).
        const sent = `${path} ${JSON.stringify(body ?? "")}`;
        const leaked = cred.mustNotSee().filter((v) => answer.text.includes(v) && !sent.includes(v));
        expect(leaked, where).toEqual([]);
      }
    }
    // Not one refused attempt changed anything the victim can see: not even a denied event at its virtual lock, since
    // a phone that holds no key for it is refused before any attempt is made (review 12.9).
    const after = await victimState();
    for (const [id, answer] of before) expect(after.get(id)?.text, id).toBe(answer.text);
    tally.note("operations", ops.length);
    tally.note("credential kinds", creds.length);
    tally.note("route × credential refused", counts.refused);
    tally.note("route × credential own answers checked for leaks", counts.own);
    expect(counts.refused).toBeGreaterThan(500);
  });

  it("bridge A's feed is not bridge B's: each bridge reads only its own connections, locks and keys", async () => {
    const feed = async (auth: string) =>
      (await ok("GET", "/bridge/v1/changes?limit=1000", { token: auth }, 200)).body.changes as Array<
        Record<string, unknown>
      >;
    const mine = JSON.stringify(await feed(victim.bridgeToken));
    // The positive side: the victim's bridge does see its connection, lock and key.
    for (const v of [victim.ids.vendorConnectionId, victim.ids.lockId, victim.ids.keyId]) expect(mine).toContain(v);
    for (const [who, auth] of [
      ["another tenant's bridge", other.bridgeToken],
      ["sibling bridge", extra.siblingBridge],
    ] as const) {
      const theirs = JSON.stringify(await feed(auth));
      for (const v of [victim.ids.vendorConnectionId, victim.ids.lockId, victim.ids.keyId, "Victim-vendor-user"]) {
        expect(theirs, `${who} sees ${v}`).not.toContain(v);
      }
      tally.input();
      tally.refuse();
    }
    expect(JSON.stringify(await feed(other.bridgeToken))).toContain(other.ids.lockId);
  });

  it("positive controls: the rightful credential gets the documented 2xx on every operation", async () => {
    const rotated = { bridgeSecret: "", clientSecret: "" };
    const rightful: Record<Family, string> = {
      public: "",
      integrator: victim.admin,
      bridge: victim.bridgeToken,
      app: victim.phone.token,
    };
    let seq = 0;
    // GETs first (they must see the objects the others then change or delete).
    const sorted = ordered().sort(
      (a, b) => Number(a.method !== "GET") - Number(b.method !== "GET") || order(a) - order(b),
    );
    for (const op of sorted) {
      if (op.family === "public") continue;
      let body = validBody(op, victim.ids, ++seq);
      if (op.id === "POST /app/v1/virtual-locks/{lockId}/unlock") body = await victimUnlockBody(victim.phone.secretKey);
      const answer = await ok(
        op.method,
        fillPath(op, pathValues(op, victim.ids)),
        { token: rightful[op.family], ...(body !== undefined ? { json: body } : {}) },
        op.success,
        op.id,
      );
      if (op.method === "GET" && op.family === "integrator" && op.path.endsWith("}")) {
        // A read of the victim's object names it: the 404s above were not for want of a real id.
        const last = op.pathParams[op.pathParams.length - 1]!;
        expect(answer.text, op.id).toContain(pathValues(op, victim.ids)[last]);
      }
      if (op.id === "POST /integrators/v1/lock-holders/{lockHolderId}/bridges") {
        secrets.add(`positive-control bridge secret ${seq}`, answer.body.secret);
      }
      if (op.id === ROTATE_BRIDGE) {
        secrets.add("victim rotated bridge secret", answer.body.secret);
        rotated.bridgeSecret = answer.body.secret;
      }
      if (op.id === ROTATE_CLIENT) {
        secrets.add("victim rotated client secret", answer.body.secret);
        rotated.clientSecret = answer.body.secret;
      }
      if (op.id === "POST /integrators/v1/lock-holders/{lockHolderId}/webhooks") {
        secrets.add(`positive-control webhook secret ${seq}`, answer.body.secret);
      }
      if (
        op.id ===
        "PUT /integrators/v1/lock-holders/{lockHolderId}/vendor-connections/{vendorConnectionId}/update-password"
      ) {
        secrets.add(`positive-control vendor password ${seq}`, (body as { password: string }).password);
      }
    }
    // The victim's old secrets are revoked, with the tokens issued for them (review 12.7): the old ones are refused,
    // and the victim carries on with the new ones.
    expect(rotated.bridgeSecret).not.toBe("");
    expect(rotated.clientSecret).not.toBe("");
    expect((await api("GET", "/integrators/v1/lock-holders", { token: victim.admin })).status).toBe(401);
    expect((await api("GET", "/bridge/v1/changes", { token: victim.bridgeToken })).status).toBe(401);
    for (const [clientId, secret, scope] of [
      [victim.clientId, victim.clientSecret, "integrator.admin"],
      [victim.ids.bridgeId, victim.bridgeSecret, "bridge"],
    ] as const) {
      const refused = await api("POST", "/auth/v1/token", {
        json: { client_id: clientId, client_secret: secret, scope },
      });
      expect(refused.status).toBe(401);
      tally.input();
      tally.refuse();
    }
    victim.clientSecret = rotated.clientSecret;
    victim.bridgeSecret = rotated.bridgeSecret;
    victim.admin = await token(victim.clientId, victim.clientSecret, "integrator.admin", " (rotated)");
    victim.bridgeToken = await token(victim.ids.bridgeId, victim.bridgeSecret, "bridge", " (rotated)");
  });
});

describe("secrets never appear", () => {
  it("no secret in any log line or error, and each secret shown only in the one answer that created it", async () => {
    // Failed logins: wrong secrets, secrets of the wrong kind, other tenants' scopes, form-encoded too.
    const wrong = "wrong-secret-attempt-0123456789abcdef";
    secrets.add("a wrong secret tried at login", wrong);
    const attempts: Array<Record<string, string>> = [
      { client_id: victim.clientId, client_secret: wrong, scope: "integrator.admin" },
      { client_id: victim.clientId, client_secret: `${victim.clientSecret}x`, scope: "integrator.admin" },
      { client_id: victim.ids.bridgeId, client_secret: victim.clientSecret, scope: "bridge" },
      { client_id: victim.clientId, client_secret: victim.clientSecret, scope: "bridge" },
      {
        client_id: victim.clientId,
        client_secret: victim.clientSecret,
        scope: `lockHolder.admin:${other.ids.lockHolderId}`,
      },
      { client_id: victim.clientId, client_secret: victim.clientSecret, scope: "root" },
      { client_id: "cl_nobody", client_secret: victim.clientSecret, scope: "integrator.admin" },
    ];
    for (const attempt of attempts) {
      const json = await api("POST", "/auth/v1/token", { json: { grant_type: "client_credentials", ...attempt } });
      expect([400, 401]).toContain(json.status);
      const form = await api("POST", "/auth/v1/token", {
        raw: new URLSearchParams({ grant_type: "client_credentials", ...attempt }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect([400, 401]).toContain(form.status);
      tally.input(2);
      tally.refuse(2);
    }
    // Secrets as bearer tokens and in bodies of refused requests (not in URLs: request lines are logged, as is usual).
    for (const secret of [victim.clientSecret, wrong]) {
      expect((await api("GET", "/integrators/v1/lock-holders", { token: secret })).status).toBe(401);
      const refused = await api("POST", "/integrators/v1/lock-holders", {
        token: victim.admin,
        json: { name: "x", password: secret },
      });
      expect(refused.status).toBe(400);
      tally.input(2);
      tally.refuse(2);
    }
    // Vendor credentials: a duplicate (409), a bridge that is not the tenant's, a new password.
    const lhPath = `/integrators/v1/lock-holders/${victim.ids.lockHolderId}`;
    const password = "victim-second-vendor-password-9876";
    secrets.add("second vendor password", password);
    const vendor = { vendor: "sim", username: "victim-second-user", password, bridgeId: extra.siblingBridgeId };
    await ok("POST", `${lhPath}/vendor-connections`, { token: victim.admin, json: vendor }, 201);
    const duplicate = await api("POST", `${lhPath}/vendor-connections`, { token: victim.admin, json: vendor });
    expect(duplicate.status).toBe(409);
    const foreignBridge = await api("POST", `${lhPath}/vendor-connections`, {
      token: victim.admin,
      json: { ...vendor, username: "victim-third-user", bridgeId: other.ids.bridgeId },
    });
    expect(foreignBridge.status).toBeGreaterThanOrEqual(400);
    // Phone: wrong codes, a weak device key, a bad number.
    const started = await ok("POST", "/app/v1/verification", { json: { phoneNumber: "+4791112222" } }, 202);
    for (const code of ["000000", "999999"]) {
      const wrongCode = await api("POST", `/app/v1/verification/${started.body.verificationId}/confirm`, {
        json: { code, devicePublicKey: "00".repeat(32) },
      });
      expect(wrongCode.status).toBeGreaterThanOrEqual(400);
    }
    const badNumber = await api("POST", `${lhPath}/keys`, {
      token: victim.admin,
      json: { lockId: victim.ids.virtualLockId, userId: "not a number" },
    });
    expect(badNumber.status).toBe(422);
    tally.input(6);
    tally.refuse(5);

    // The secrets at rest: the master key file and every issuer private key it seals.
    const masterHex = readFileSync(join(dataDir, "master.key"), "utf8").trim();
    const master = Buffer.from(masterHex, "hex");
    expect(master.length).toBe(32);
    secrets.add("master key (hex)", masterHex);
    secrets.add("master key (base64)", master.toString("base64"));
    secrets.add("master key (base64url)", master.toString("base64url"));
    const db = new Database(join(dataDir, "cloud.sqlite"), { readonly: true, fileMustExist: true });
    const issuers = db.prepare("SELECT kid, secret_sealed AS sealed FROM issuer_keys").all() as Array<{
      kid: string;
      sealed: string;
    }>;
    db.close();
    expect(issuers.length).toBeGreaterThanOrEqual(4);
    for (const { kid, sealed } of issuers) {
      const key = unseal(master, sealed, `issuer-key:${kid}`);
      secrets.add(`issuer private key ${kid} (hex)`, key.toString("hex"));
      secrets.add(`issuer private key ${kid} (base64)`, key.toString("base64"));
      secrets.add(`issuer private key ${kid} (base64url)`, key.toString("base64url"));
    }

    // The log: not one secret in any line (the development sender's one-time codes are meant to be there: 6 digits).
    expect(logs.lines.length).toBeGreaterThan(100);
    expect(secrets.foundIn(logs.text())).toEqual([]);
    // The answers: each secret at most once, and then only in the answer that created it.
    const seen = new Map<string, string[]>();
    for (const a of answers) {
      for (const label of secrets.foundIn(a.text)) {
        seen.set(label, [...(seen.get(label) ?? []), a.what]);
        expect(a.creation, `${label} in ${a.what}`).toBe(true);
      }
    }
    for (const [label, where] of seen) expect(where, label).toHaveLength(1);
    tally.note("answers searched for secrets", answers.length);
    tally.note("secrets tracked", secrets.size);
    tally.note("log lines searched", logs.lines.length);
  });
});

/** The cloud's Sealer, reversed (cloud/src/security/secrets.ts): v1.<iv>.<body>.<tag>, AES-256-GCM, context as AAD. */
function unseal(masterKey: Buffer, sealed: string, context: string): Buffer {
  const [version, iv, body, tag] = sealed.split(".");
  expect(version).toBe("v1");
  const decipher = createDecipheriv("aes-256-gcm", masterKey, Buffer.from(iv!, "base64url"));
  decipher.setAAD(Buffer.from(context, "utf8"));
  decipher.setAuthTag(Buffer.from(tag!, "base64url"));
  return Buffer.concat([decipher.update(Buffer.from(body!, "base64url")), decipher.final()]);
}
