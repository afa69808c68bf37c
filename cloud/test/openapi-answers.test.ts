import { AnswerChecker } from "@latchkey/protocol/testing/openapi-answers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerPhone } from "./app.js";
import { bridgeWithConnection, closeAll, startTestCloud, type TestCloud, tenant } from "./helpers.js";

/**
 * Issue 14: every answer of the cloud suite is checked against /docs/json (helpers.ts `call`). These show the checker
 * refuses what it must, so a silent checker cannot pass the suite, and that an answer off the document fails a call.
 */
let t: TestCloud;
let checker: AnswerChecker;

beforeAll(async () => {
  t = await startTestCloud({ checkAnswers: false });
  checker = new AnswerChecker((await t.call("GET", "/docs/json")).body);
});
afterAll(closeAll);

const JSON_TYPE = "application/json; charset=utf-8";
const LH = "/integrators/v1/lock-holders/lh_01kbz3q2e6x4m9v7c5t8r2w1na";

describe("the answer checker", () => {
  it("takes a declared status with a body its schema accepts", () => {
    const error = JSON.stringify({ error: "not_found", errorDescription: "no such lock holder" });
    expect(checker.problem("GET", LH, 404, JSON_TYPE, error)).toBeUndefined();
    expect(checker.problem("GET", `${LH}/keys?limit=5`, 400, JSON_TYPE, error)).toBeUndefined();
  });

  it("refuses a status the operation does not declare", () => {
    const error = JSON.stringify({ error: "teapot", errorDescription: "short and stout" });
    expect(checker.problem("GET", LH, 418, JSON_TYPE, error)).toMatch(
      /getLockHolder.*answered 418, which it does not declare/,
    );
  });

  it("refuses a body its schema does not accept, naming the field", () => {
    expect(checker.problem("GET", LH, 404, JSON_TYPE, JSON.stringify({ error: "not_found" }))).toMatch(
      /does not match its schema: \(body\) must have required property 'errorDescription'/,
    );
    const lockHolder = { id: "lh_1", name: 7, countryIso: "NO" };
    expect(checker.problem("GET", LH, 200, JSON_TYPE, JSON.stringify(lockHolder))).toMatch(/does not match its schema/);
  });

  it("refuses a date-time that is not one (ajv-formats)", async () => {
    const tn = await tenant(t);
    const real = await t.call("GET", `/integrators/v1/lock-holders/${tn.lockHolderId}`, { token: tn.token });
    expect(checker.problem("GET", LH, 200, JSON_TYPE, JSON.stringify(real.body))).toBeUndefined();
    const bad = { ...real.body, created: "yesterday" };
    expect(checker.problem("GET", LH, 200, JSON_TYPE, JSON.stringify(bad))).toMatch(/must match format "date-time"/);
  });

  it("prefers a static segment over a parameter, as the router does", () => {
    const job = JSON.stringify({ jobId: "job_1" });
    // /keys/batch is its own operation (202), not GET-a-key's {keyId}.
    expect(checker.problem("POST", `${LH}/keys/batch`, 202, JSON_TYPE, job)).toBeUndefined();
  });

  it("leaves alone what the document does not describe", () => {
    expect(checker.problem("GET", "/health", 200, JSON_TYPE, "{}")).toBeUndefined();
    expect(checker.problem("GET", "/no/such/route", 404, JSON_TYPE, "{}")).toBeUndefined();
  });

  it("takes the router's own refusals (414), which every operation with path parameters declares", async () => {
    const checked = await startTestCloud();
    // A lock holder id over the router's maxParamLength: 414, declared by every operation with path parameters.
    const long = await checked.call("GET", `/integrators/v1/lock-holders/${"x".repeat(201)}`, { token: "nope" });
    expect(long.status).toBe(414);
  });
});

interface Op {
  method: string;
  path: string;
  secured: boolean;
  hasParams: boolean;
}

/**
 * Every operation's generic refusals, sent for real with the rightful caller's token: the checker in helpers.ts `call`
 * fails any the document does not declare, and each must be the refusal named (a route answering something else, or
 * a refusal coming from elsewhere in the pipeline, shows here).
 */
describe("every operation answers its generic refusals as its document declares", () => {
  let checked: TestCloud;
  let ops: Op[];
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    checked = await startTestCloud({ seed: "openapi-refusals" });
    const doc = (await checked.call("GET", "/docs/json")).body;
    ops = Object.entries(doc.paths as Record<string, Record<string, Record<string, unknown>>>).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => !op.deprecated)
        .map(([method, op]) => ({
          method: method.toUpperCase(),
          // Examples of path parameters are in the document (openapi-lint.test.ts checks they all have one).
          path: path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
            const param = (
              op.parameters as { in: string; name: string; example?: string; schema?: { example?: string } }[]
            ).find((p) => p.in === "path" && p.name === name);
            return encodeURIComponent(param?.example ?? param?.schema?.example ?? "missing-example");
          }),
          // As OpenAPI 3.0 reads `security`: none given is the document's bearer; `[]`, or an empty requirement among
          // others (the token route: client credentials in the body or as HTTP Basic), is no token needed.
          secured:
            op.security === undefined ||
            (!(op.security as object[]).some((r) => Object.keys(r).length === 0) &&
              (op.security as object[]).length > 0),
          hasParams: path.includes("{"),
        })),
    );
    const tn = await tenant(checked);
    tokens.integrators = tn.token;
    tokens.bridge = (await bridgeWithConnection(checked, tn)).token;
    tokens.app = (await registerPhone(checked, "+4791234567")).token;
  });

  const tokenFor = (op: Op) => (op.secured ? tokens[op.path.split("/")[1]!] : undefined);
  const hasBody = (op: Op) => ["POST", "PUT", "PATCH", "DELETE"].includes(op.method);

  it("401 without a token on every secured operation", async () => {
    const got: string[] = [];
    for (const op of ops.filter((o) => o.secured)) {
      const res = await checked.call(op.method, op.path);
      if (res.status !== 401) got.push(`${op.method} ${op.path}: ${res.status}`);
    }
    expect(got).toEqual([]);
  });

  it("415 for a body that is not JSON, 400 for broken JSON, 413 for one over the limit", async () => {
    const got: string[] = [];
    const huge = `{"x":"${"a".repeat(8 * 1024 * 1024)}"}`;
    for (const op of ops.filter(hasBody)) {
      const token = tokenFor(op);
      const probes: Array<[number, string, string]> = [
        [415, "text/plain", "hello"],
        [400, "application/json", "{not json"],
        [413, "application/json", huge],
      ];
      for (const [status, type, raw] of probes) {
        const res = await checked.call(op.method, op.path, { token, raw, headers: { "content-type": type } });
        if (res.status !== status) got.push(`${op.method} ${op.path} ${type}: ${res.status}, expected ${status}`);
      }
    }
    expect(got).toEqual([]);
  });

  it("414 for a path parameter over the router's limit", async () => {
    const got: string[] = [];
    for (const op of ops.filter((o) => o.hasParams)) {
      const long = op.path.replace(
        /\/[^/]*_01kbz3q2e6x4m9v7c5t8r2w1n.|\/sim-lock-001|\/3f9a0c21d4e87b65/,
        `/${"x".repeat(201)}`,
      );
      const res = await checked.call(op.method, long, { token: tokenFor(op) });
      if (res.status !== 414) got.push(`${op.method} ${long.slice(0, 80)}…: ${res.status}`);
    }
    expect(got).toEqual([]);
  });
});
