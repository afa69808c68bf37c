import { join } from "node:path";
import { startCloud } from "@latchkey/cloud";
import { seededRandom } from "@latchkey/lock-sim";
import { ManualClock } from "@latchkey/protocol";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LogSink } from "../src/reliability/evidence.js";
import {
  type Answer,
  factorySetupCode,
  fillPath,
  type Operation,
  openApi,
  operations,
  pathValues,
  type Schema,
  type SendOptions,
  send,
  type TenantIds,
  validBody,
} from "../src/reliability/routes.js";
import { Tally } from "../src/reliability/tally.js";
import { Resources } from "../src/resources.js";

/**
 * Bad input on every operation of the cloud's OpenAPI document, with the rightful credential: for each, inputs derived
 * from its own schema (each required field missing, each field of the wrong type, too long, off its pattern or enum,
 * out of range, holding NUL; unknown fields; bodies that are not objects, not JSON, not UTF-8, nested 100 000 deep,
 * over the size limit, of the wrong content type; bad pagination; path parameters too long, with ../, %00, bad
 * percent-escapes), plus seeded random wrong-typed values (fast-check). Every one must be refused with a 4xx and
 * `{error, errorDescription}`, never a 5xx; the server stays healthy; and no table of the cloud's SQLite file gains or
 * loses a row (a refusal writes nothing, not half of something).
 */

const tally = new Tally("api-fuzz");
const logs = new LogSink();
const resources = new Resources();
const SEED = 20_240_707;

let port = 0;
let dataDir = "";
let ops: Operation[] = [];
let ids: TenantIds;
const tokens = { integrator: "", bridge: "", app: "" };

async function ok(method: string, path: string, options: SendOptions, status: number): Promise<Answer> {
  const answer = await send(port, method, path, options);
  expect(answer.status, `${method} ${path}: ${answer.text}`).toBe(status);
  return answer;
}

beforeAll(async () => {
  dataDir = join(resources.tempDir("latchkey-api-fuzz-"), "cloud");
  const cloud = await startCloud({
    dataDir,
    port: 0,
    clock: new ManualClock(1_800_000_000_000),
    logLevel: "info",
    logStream: logs.stream("cloud"),
    random: seededRandom("api-fuzz"),
    masterKey: new Uint8Array(32).fill(9),
    // No workers: every row change comes from a request of this test.
    workers: false,
    // The probe webhooks name 127.0.0.1 (never called: no workers), which the cloud refuses by default.
    settings: { allowPrivateWebhookTargets: true },
  });
  resources.defer("close the cloud", () => cloud.close());
  port = cloud.port;
  ops = operations(await openApi(port));

  // One of everything, so each path parameter names a real object and each valid body would be accepted.
  const creds = await cloud.bootstrap("Fuzz Integrator");
  const grant = (client_id: string, client_secret: string, scope: string) =>
    ok("POST", "/auth/v1/token", { json: { grant_type: "client_credentials", client_id, client_secret, scope } }, 200);
  tokens.integrator = (await grant(creds.clientId, creds.clientSecret, "integrator.admin")).body.access_token;
  const auth = { token: tokens.integrator };
  const lh = (await ok("POST", "/integrators/v1/lock-holders", { ...auth, json: { name: "Fuzz homes" } }, 201)).body;
  const lhPath = `/integrators/v1/lock-holders/${lh.id}`;
  const bridge = (await ok("POST", `${lhPath}/bridges`, auth, 201)).body;
  tokens.bridge = (await grant(bridge.bridgeId, bridge.secret, "bridge")).body.access_token;
  const vc = (
    await ok(
      "POST",
      `${lhPath}/vendor-connections`,
      { ...auth, json: { vendor: "sim", username: "fuzz", password: "fuzz-password", bridgeId: bridge.bridgeId } },
      201,
    )
  ).body.vendorConnection;
  const lockId = "fuzz-door-1";
  const bridgeAuth = { token: tokens.bridge };
  await ok(
    "PUT",
    `/bridge/v1/vendor-connections/${vc.id}/locks`,
    { ...bridgeAuth, json: { locks: [{ id: lockId }] } },
    200,
  );
  await ok("PUT", `/bridge/v1/vendor-connections/${vc.id}/state`, { ...bridgeAuth, json: { state: "connected" } }, 204);
  const { setupCode } = factorySetupCode(lockId);
  await ok("POST", `${lhPath}/locks/claims`, { ...auth, json: { setupCode } }, 201);
  // Made once here (authority, report key, cached state), so a refused probe has nothing left to create.
  await ok("GET", `/bridge/v1/locks/${lockId}/state`, bridgeAuth, 200);
  await ok("GET", `${lhPath}/authority`, auth, 200);
  await ok("POST", `${lhPath}/vendor-connections`, { ...auth, json: { vendor: "virtual", locksToCreate: 1 } }, 201);
  const locks = (await ok("GET", `${lhPath}/locks`, auth, 200)).body.locks as Array<{ id: string; vendor: string }>;
  const key = (await ok("POST", `${lhPath}/keys`, { ...auth, json: { lockId, userId: "+4791234567" } }, 201)).body;
  const job = (
    await ok("POST", `${lhPath}/keys/batch`, { ...auth, json: { keys: [{ lockId, userId: "+4791234568" }] } }, 202)
  ).body;
  const hook = (await ok("POST", `${lhPath}/webhooks`, { ...auth, json: { url: "http://127.0.0.1:9/hook" } }, 201))
    .body;
  // A key after the hook, so the hook has a delivery (key.created) for the replay routes to name.
  await ok("POST", `${lhPath}/keys`, { ...auth, json: { lockId, userId: "+4791234569" } }, 201);
  const delivery = (await ok("GET", `${lhPath}/webhooks/${hook.id}/deliveries`, auth, 200)).body.deliveries[0];
  // A remote unlock waiting for its bridge: the action routes' path parameter names it.
  const action = (await ok("POST", `${lhPath}/locks/${lockId}/actions`, { ...auth, json: { action: "unlock" } }, 202))
    .body;
  const started = (await ok("POST", "/app/v1/verification", { json: { phoneNumber: "+4791234567" } }, 202)).body;
  const code = String(logs.records("one-time code").find((r) => r.phoneNumber === "+4791234567")!.code);
  const confirmed = await ok(
    "POST",
    `/app/v1/verification/${started.verificationId}/confirm`,
    { json: { code, devicePublicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a" } },
    200,
  );
  tokens.app = confirmed.body.accessToken;
  const verification = (await ok("POST", "/app/v1/verification", { json: { phoneNumber: "+4791234567" } }, 202)).body;
  ids = {
    integratorId: creds.integratorId,
    clientId: creds.clientId,
    lockHolderId: lh.id,
    bridgeId: bridge.bridgeId,
    vendorConnectionId: vc.id,
    lockId,
    virtualLockId: locks.find((l) => l.vendor === "virtual")!.id,
    keyId: key.id,
    actionId: action.id,
    kid: (await ok("GET", `${lhPath}/issuer-keys`, auth, 200)).body.issuerKeys[0].kid,
    jobId: job.jobId,
    webhookId: hook.id,
    deliveryId: delivery.id,
    verificationId: verification.verificationId,
    phoneNumber: "+4791234567",
  };
}, 60_000);

afterAll(async () => {
  await resources.cleanup();
  tally.publish(inject("reliabilityReport"));
});

/** Row counts of every table of the cloud's SQLite file. */
function rowCounts(): Record<string, number> {
  const db = new Database(join(dataDir, "cloud.sqlite"), { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{
      name: string;
    }>;
    return Object.fromEntries(
      tables.map(({ name }) => [name, (db.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n]),
    );
  } finally {
    db.close();
  }
}

interface Probe {
  label: string;
  path: string;
  options: SendOptions;
}

const HUGE = "x".repeat(200_000);
const DEEP_ARRAY = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;

/** What an object schema's variant is (a top-level anyOf of objects: the first variant, the one the base body uses). */
const objectSchema = (s: Schema): Schema => (s.anyOf && s.anyOf[0]?.type === "object" ? s.anyOf[0] : s);
const enumOf = (s: Schema): unknown[] | undefined =>
  s.enum ?? (s.anyOf?.every((v: Schema) => v.enum) ? s.anyOf.flatMap((v: Schema) => v.enum) : undefined);

/** JSON values of any type but the schema's (null only where the field is not nullable). */
function wrongTyped(s: Schema): fc.Arbitrary<unknown> {
  const type = s.type ?? (enumOf(s) ? "string" : undefined);
  const all: Array<[string, fc.Arbitrary<unknown>]> = [
    ["string", fc.string({ maxLength: 20 })],
    ["number", fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Number.isInteger(n))],
    ["integer", fc.integer()],
    ["boolean", fc.boolean()],
    ["object", fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })],
    ["array", fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 })],
    ["null", fc.constant(null)],
  ];
  const excluded = new Set([type, ...(type === "number" ? ["integer"] : []), ...(s.nullable ? ["null"] : [])]);
  return fc.oneof(...all.filter(([t]) => !excluded.has(t)).map(([, a]) => a));
}

/** Hand-picked bad values for one field, from its schema. */
function badValues(s: Schema, random: number): unknown[] {
  const out: unknown[] = fc.sample(wrongTyped(s), { numRuns: 3, seed: SEED + random });
  const enums = enumOf(s);
  if (enums) out.push("not-one-of-them", `${enums[0]}\u0000`);
  if (s.type === "string") {
    out.push("a\u0000b", HUGE);
    if (s.maxLength !== undefined) out.push("x".repeat(s.maxLength + 1));
    if (s.minLength) out.push("");
    if (s.pattern) out.push("!! not the pattern !!");
    if (s.format === "date-time") out.push("tomorrow", "2027-13-45T25:61:00Z");
    if (s.format === "uri") out.push("not a uri", "ftp://127.0.0.1/x", "javascript:alert(1)");
  }
  if (s.type === "integer" || s.type === "number") {
    out.push(1.5, "1", 1e308, -1e308);
    if (s.minimum !== undefined) out.push(s.minimum - 1);
    if (s.maximum !== undefined) out.push(s.maximum + 1);
  }
  if (s.type === "array" && s.maxItems !== undefined && s.maxItems <= 10_000) {
    out.push(Array.from({ length: s.maxItems + 1 }, () => ({})));
  }
  if (s.type === "array" && s.minItems) out.push([]);
  return out;
}

/** Bodies that each break the schema in one place, recursing into nested objects and the first item of arrays. */
function bodyMutations(schema: Schema, base: Record<string, unknown>, at: string, seq: { n: number }) {
  const out: Array<{ label: string; value: Record<string, unknown> }> = [];
  const s = objectSchema(schema);
  const properties = (s.properties ?? {}) as Record<string, Schema>;
  for (const name of s.required ?? []) {
    const { [name]: _, ...rest } = base;
    out.push({ label: `${at}.${name} missing`, value: rest });
  }
  if (s.additionalProperties === false) out.push({ label: `${at}.unknownField`, value: { ...base, unknownField: 1 } });
  for (const [name, ps] of Object.entries(properties)) {
    for (const bad of badValues(ps, seq.n++)) out.push({ label: `${at}.${name} bad`, value: { ...base, [name]: bad } });
    const inner = base[name];
    if (ps.type === "object" && ps.additionalProperties === false) {
      for (const m of bodyMutations(ps, (inner as Record<string, unknown>) ?? {}, `${at}.${name}`, seq)) {
        out.push({ label: m.label, value: { ...base, [name]: m.value } });
      }
    }
    if (ps.type === "array" && ps.items?.type === "object" && Array.isArray(inner) && inner.length > 0) {
      for (const m of bodyMutations(ps.items, inner[0] as Record<string, unknown>, `${at}.${name}.0`, seq)) {
        out.push({ label: m.label, value: { ...base, [name]: [m.value, ...inner.slice(1)] } });
      }
    }
  }
  return out;
}

/** Every bad request for one operation. */
function probes(op: Operation): Probe[] {
  const values = pathValues(op, ids);
  const path = fillPath(op, values);
  const out: Probe[] = [];
  const takesBody = op.method !== "GET";
  const base = validBody(op, ids) as Record<string, unknown> | undefined;
  const seq = { n: 0 };

  if (op.body && base) {
    for (const m of bodyMutations(op.body, base, "body", seq))
      out.push({ label: m.label, path, options: { json: m.value } });
    for (const notObject of [[], "text", null, 123, true, [base]]) {
      out.push({ label: `body ${JSON.stringify(notObject).slice(0, 20)}`, path, options: { json: notObject } });
    }
    const json = JSON.stringify(base);
    const firstString = Object.entries(base).find(([, v]) => typeof v === "string")?.[0];
    if (firstString) {
      // The same body with invalid UTF-8 bytes (a lone continuation byte, a truncated sequence) inside a string.
      const [head, tail] = json.split(`"${firstString}":"`);
      out.push({
        label: "invalid UTF-8",
        path,
        options: {
          raw: Buffer.concat([
            Buffer.from(`${head}"${firstString}":"`),
            Buffer.from([0xff, 0x80, 0xc3]),
            Buffer.from(tail!),
          ]),
          headers: { "content-type": "application/json" },
        },
      });
    }
    out.push({
      label: "deep nesting",
      path,
      options: { raw: `${json.slice(0, -1)},"deep":${DEEP_ARRAY}}`, headers: { "content-type": "application/json" } },
    });
    out.push({
      label: "deep body",
      path,
      options: { raw: DEEP_ARRAY, headers: { "content-type": "application/json" } },
    });
    const limit =
      op.id === "POST /bridge/v1/ingest"
        ? 1024 * 1024
        : op.id === "POST /bridge/v1/reports"
          ? 7 * 1024 * 1024
          : 256 * 1024;
    out.push({ label: "over the body limit", path, options: { json: { ...base, pad: "p".repeat(limit + 10) } } });
    out.push({
      label: "__proto__",
      path,
      options: {
        raw: `${json.slice(0, -1)},"__proto__":{"admin":true}}`,
        headers: { "content-type": "application/json" },
      },
    });
    out.push({
      label: "constructor.prototype",
      path,
      options: {
        raw: `${json.slice(0, -1)},"constructor":{"prototype":{"admin":true}}}`,
        headers: { "content-type": "application/json" },
      },
    });
    out.push({
      label: "trailing garbage",
      path,
      options: { raw: `${json}x`, headers: { "content-type": "application/json" } },
    });
    out.push({ label: "no content type", path, options: { raw: json } });
    for (const type of [
      "text/plain",
      "application/xml",
      "multipart/form-data; boundary=x",
      "application/octet-stream",
    ]) {
      out.push({ label: `content type ${type}`, path, options: { raw: json, headers: { "content-type": type } } });
    }
    if (op.id !== "POST /auth/v1/token") {
      // The token endpoint alone takes forms (OAuth2); everywhere else a form is the wrong content type.
      out.push({
        label: "form body",
        path,
        options: { raw: "a=1", headers: { "content-type": "application/x-www-form-urlencoded" } },
      });
    }
  }
  if (takesBody) {
    // A JSON content type with no body at all is an empty body (docs/design.md section 4): bad input only where the
    // body has a required field.
    const emptyIsBad = (op.body?.required?.length ?? 0) > 0;
    for (const raw of [
      "{",
      '{"a":',
      "nope",
      ...(emptyIsBad ? [""] : []),
      "\u0000",
      "[1,]",
      '{"a":1}}',
      "NaN",
      "{'a':1}",
    ]) {
      out.push({
        label: `bad JSON ${JSON.stringify(raw)}`,
        path,
        options: { raw, headers: { "content-type": "application/json" } },
      });
    }
  }
  for (const [name, qs] of Object.entries(op.query)) {
    // (A bad percent-escape in a query is kept as the literal text "%FF", which is valid text: not malformed here.)
    const bad: string[] = ["%00", "a%00b", "x".repeat(129), "x".repeat(5000)];
    if (qs.type === "integer" || qs.type === "number") {
      bad.push("abc", "NaN", "Infinity", "-1", "1e309", "0x10", "", String((qs.maximum ?? 1e15) + 1));
      if (qs.minimum !== undefined) bad.push(String(qs.minimum - 1));
      if (qs.type === "integer") bad.push("1.5");
    }
    if (enumOf(qs)) bad.push("sideways", "");
    for (const b of bad) {
      // A free-text parameter takes any text up to its length: only the lengths, NUL and bad escapes are wrong there.
      if (qs.type === "string" && !enumOf(qs) && qs.maxLength === undefined && b.length < 129 && !b.includes("%"))
        continue;
      out.push({ label: `query ${name}=${b.slice(0, 12)}`, path: `${path}?${name}=${b}`, options: {} });
    }
    out.push({ label: `query ${name} twice`, path: `${path}?${name}=1&${name}=2`, options: {} });
  }
  if (Object.keys(op.query).length > 0) out.push({ label: "unknown query", path: `${path}?zzz=1`, options: {} });
  for (const name of op.pathParams) {
    for (const bad of [
      "x".repeat(129),
      "x".repeat(201),
      "x".repeat(5000),
      "x".repeat(20_000),
      "..%2F..%2Fetc%2Fpasswd",
      "%2E%2E",
      `${values[name]}%00`,
      "%00",
      "%FF",
      "%",
      "%E2%82",
      "nothing_here",
      "' OR 1=1 --",
    ]) {
      out.push({
        label: `path ${name}=${bad.slice(0, 14)}`,
        path: fillPath(op, { ...values, [name]: bad.replaceAll(" ", "%20").replaceAll("'", "%27") }, true),
        options: { json: base },
      });
    }
    // A literal ../ segment in place of the id.
    out.push({
      label: `path ${name}=../`,
      path: fillPath(op, { ...values, [name]: "../x" }, true),
      options: { json: base },
    });
  }
  return out;
}

describe("bad input on every operation in /docs/json, with the rightful credential", () => {
  it("each is a 4xx with {error, errorDescription}, never a 5xx; the server stays healthy; no row written", async () => {
    const before = rowCounts();
    expect(Object.keys(before).length).toBeGreaterThan(10);
    const credential = { public: undefined, integrator: tokens.integrator, bridge: tokens.bridge, app: tokens.app };
    const statuses = new Map<number, number>();
    let total = 0;
    const failures: string[] = [];
    for (const op of ops) {
      const list = probes(op);
      for (const probe of list) {
        const token = credential[op.family];
        const answer = await send(port, op.method, probe.path, { ...(token ? { token } : {}), ...probe.options });
        const where = `${op.id} ${probe.label}: ${answer.status} ${answer.text.slice(0, 200)}`;
        total++;
        tally.input();
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const refused =
          answer.status >= 400 &&
          answer.status < 500 &&
          typeof answer.body?.error === "string" &&
          typeof answer.body?.errorDescription === "string";
        if (refused) tally.refuse();
        else failures.push(where);
      }
    }
    expect(failures).toEqual([]);
    // Healthy: alive, and the rightful caller still gets its answers.
    expect((await send(port, "GET", "/health")).status).toBe(200);
    await ok(
      "GET",
      `/integrators/v1/lock-holders/${ids.lockHolderId}/keys/${ids.keyId}`,
      { token: tokens.integrator },
      200,
    );
    await ok("GET", "/bridge/v1/changes", { token: tokens.bridge }, 200);
    await ok("GET", "/app/v1/keys", { token: tokens.app }, 200);
    // Nothing half-written: not one row more or less in any table, and no request failed inside the server.
    expect(rowCounts()).toEqual(before);
    expect(logs.records("request failed")).toEqual([]);
    expect(total).toBeGreaterThan(1500);
    tally.note("operations", ops.length);
    tally.note(
      "statuses",
      [...statuses]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}×${n}`)
        .join(" "),
    );
  });
});
