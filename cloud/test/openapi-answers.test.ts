import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, startTestCloud, type TestCloud, tenant } from "./helpers.js";
import { AnswerChecker } from "./openapi-answers.js";

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
